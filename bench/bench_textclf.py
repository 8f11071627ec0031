"""The IMDB embedding classifier: forward and one Adam step, every backend, one table each.

    pytest bench/bench_textclf.py --benchmark-only --benchmark-group-by=group

Groups ``textclf-forward`` and ``textclf-train-step``: a batch of 128 reviews of 250
token ids (the tutorials' length), vocabulary 10,000, embedding 16, float32.  The ids are
seeded random reviews of random length (`spec.example`): a lookup's time does not depend
on which words they are.  Each backend runs through its own trainer (bench/harness.py).
"""

from __future__ import annotations

import pytest

import models
from bench import harness

BACKENDS = [pytest.param(b, marks=getattr(pytest.mark, b)) for b in models.BACKENDS]
CONFIG = {"vocab_size": 10000, "seq_len": 250}
BATCH = 128


def _setup(backend, benchmark, what):
    net = models.get("textclf", backend, **CONFIG)
    params = net.spec.init(seed=0, dtype="float32")
    batch = net.spec.example(n=BATCH, seed=1, dtype="float32")
    benchmark.group = f"textclf-{what}"
    benchmark.extra_info.update(harness.machine_info(backend), data="seeded random ids",
                                shape=list(batch["x"].shape), dtype="float32")
    return net, params, batch


@pytest.mark.parametrize("backend", BACKENDS)
def test_textclf_forward(benchmark, backend):
    net, params, batch = _setup(backend, benchmark, "forward")
    benchmark(harness.forward(net, params, batch["x"]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_textclf_train_step(benchmark, backend):
    """One Adam step (lr 1e-3): forward, backward (the embedding's scatter-add), update."""
    net, params, batch = _setup(backend, benchmark, "train-step")
    benchmark(harness.train_step(net, params, batch, "adam", lr=1e-3))
