"""Convolutional network benchmarks: forward and one Adam training step, every backend.

    pytest bench/bench_conv.py --benchmark-only --benchmark-group-by=group

Groups ``tinyvgg-forward``, ``tinyvgg-train-step``, ``cnn-forward``, ``cnn-train-step``
each hold every framework, so one table compares them.  float32 at the real shapes:
TinyVGG a batch of 32 x 64x64x3 (the course's), the MNIST CNN a batch of 128 x 28x28x1
(Keras's example).  Inputs are seeded normal noise of that shape: a convolution's time
does not depend on the pixel values.  Each backend runs the fast way its users write it
(see ``bench/harness.py``): jitted Flax with donated buffers, torch eager channels-last,
Keras under ``tf.function``, NumPy im2col + BLAS.
"""

from __future__ import annotations

import pytest

import models
from bench import harness

BACKENDS = [pytest.param(b, marks=getattr(pytest.mark, b)) for b in models.BACKENDS]
#: network -> (config, batch size)
SHAPES = {"tinyvgg": ({}, 32), "cnn": ({}, 128)}
NETWORKS = [n for n in SHAPES if n in models.NETWORKS]


def _setup(name, backend, benchmark, what):
    config, n = SHAPES[name]
    net = models.get(name, backend, **config)
    params = net.spec.init(seed=0, dtype="float32")
    batch = net.spec.example(n=n, seed=1, dtype="float32")
    benchmark.group = f"{name}-{what}"
    benchmark.extra_info.update(harness.machine_info(backend), data="seeded normal noise",
                                shape=list(batch["x"].shape), dtype="float32")
    return net, params, batch


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NETWORKS)
def test_conv_forward(benchmark, name, backend):
    net, params, batch = _setup(name, backend, benchmark, "forward")
    benchmark(harness.forward(net, params, batch["x"]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NETWORKS)
def test_conv_train_step(benchmark, name, backend):
    """One Adam step (lr 1e-3): forward, backward, update; state carried between calls."""
    net, params, batch = _setup(name, backend, benchmark, "train-step")
    benchmark(harness.train_step(net, params, batch, "adam", lr=1e-3))
