"""Does a framework slow another one down in the same process?  torch's MLP step alone in
its process, and in a process where Keras (TensorFlow) has run its own step first.

    pytest bench/bench_isolation.py --benchmark-only

Group ``isolation-mlp-train-step``, two columns: ``torch alone`` (marked torch: it runs in
the torch process) and ``torch after keras`` (marked torch and keras: the plugin gives it
a ``torch+keras`` process of its own, where TensorFlow's thread pools exist and have
worked before torch's step is timed).  With ``--bench-one-process`` both run in one
process, after whatever ran before them.  Equal figures mean the frameworks do not
interfere on this machine; docs/performance.md has the measurement and why the suite
still runs one process per framework by default.
"""

from __future__ import annotations

import pytest

import models
from bench import harness

GROUP = "isolation-mlp-train-step"
KERAS_STEPS = 3  # TensorFlow's pools are created and busy before torch is timed


def _torch_step(benchmark, mnist_42k, column):
    batch, source = mnist_42k
    net = models.get("mlp", "torch", n_in=784)
    params = net.spec.init(seed=0, dtype="float32")
    benchmark.group = GROUP
    benchmark.extra_info.update(harness.machine_info("torch"), data=source, column=column,
                                shape=list(batch["x"].shape), dtype="float32")
    return harness.train_step(net, params, batch, "sgd", lr=0.1)


@pytest.mark.torch
def test_torch_step_alone(benchmark, mnist_42k):
    benchmark(_torch_step(benchmark, mnist_42k, "torch alone"))


@pytest.mark.torch
@pytest.mark.keras
def test_torch_step_after_keras(benchmark, mnist_42k):
    batch, _ = mnist_42k
    keras_net = models.get("mlp", "keras", n_in=784)
    keras_step = harness.train_step(keras_net, keras_net.spec.init(seed=0, dtype="float32"),
                                    batch, "sgd", lr=0.1)
    for _ in range(KERAS_STEPS):
        keras_step()
    benchmark.extra_info["keras_steps_before"] = KERAS_STEPS + 1
    benchmark(_torch_step(benchmark, mnist_42k, "torch after keras"))
