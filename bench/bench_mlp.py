"""MLP 784-10-10 benchmarks: forward, one full-batch GD step, a fused 100-step run.

    pytest bench/bench_mlp.py --benchmark-only --benchmark-group-by=group

Each group holds every framework, so one table compares them (float32, 42,000 x 784).
"""

from __future__ import annotations

import pytest

import models
from bench import harness

BACKENDS = [pytest.param(b, marks=getattr(pytest.mark, b)) for b in models.BACKENDS]
RUN_STEPS = 100


def _setup(backend, mnist_42k, benchmark, group):
    batch, source = mnist_42k
    net = models.get("mlp", backend, n_in=784)
    params = net.spec.init(seed=0, dtype="float32")
    benchmark.group = group
    benchmark.extra_info.update(harness.machine_info(backend), data=source,
                                shape=list(batch["x"].shape), dtype="float32")
    return net, params, batch


@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_forward(benchmark, backend, mnist_42k):
    net, params, batch = _setup(backend, mnist_42k, benchmark, "mlp-forward")
    benchmark(harness.forward(net, params, batch["x"]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_train_step(benchmark, backend, mnist_42k):
    """One full-batch gradient-descent step (lr 0.1): forward, backward, update."""
    net, params, batch = _setup(backend, mnist_42k, benchmark, "mlp-train-step")
    benchmark(harness.train_step(net, params, batch, "sgd", lr=0.1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_train_run(benchmark, backend, mnist_42k):
    """100 steps in one call: JAX fuses them in one lax.scan; the others loop.

    Run once as a plain test (--benchmark-disable), it takes 3 steps: enough to show the
    code path works without spending CI minutes."""
    net, params, batch = _setup(backend, mnist_42k, benchmark, f"mlp-train-{RUN_STEPS}-steps")
    steps = RUN_STEPS if benchmark.enabled else 3
    benchmark.extra_info["steps_per_call"] = steps
    fn = harness.train_run(net, params, batch, steps, "sgd", lr=0.1)
    benchmark.pedantic(fn, rounds=3 if benchmark.enabled else 1, iterations=1)
