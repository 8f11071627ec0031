"""Training trajectories: the four frameworks, from the same init on the same real data,
take the same steps (float64)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import models
from mlsandbox.compare import TRAJECTORY, assert_close
from mlsandbox.testing.cases import PEERS


def _peer_params(backends):
    return [pytest.param(b, id=b, marks=getattr(pytest.mark, b)) for b in backends]


@functools.lru_cache(maxsize=None)
def _net(backend, n_in):
    return models.get("mlp", backend, n_in=n_in)


def _run(backend, batch_or_batches, **kw):
    data = batch_or_batches if isinstance(batch_or_batches, dict) else batch_or_batches[0]
    net = _net(backend, data["x"].shape[1])
    params = net.spec.init(seed=0, dtype="float64")
    return net.train(params, batch_or_batches, "sgd", **kw)


@pytest.fixture(scope="module")
def full_batch_reference(mnist_subset):
    batch, _ = mnist_subset
    return _run("numpy", batch, steps=500, lr=0.1)


@pytest.mark.parametrize("backend", _peer_params(PEERS))
def test_full_batch_gradient_descent_500_steps(backend, mnist_subset, full_batch_reference):
    """The classic run (lr 0.1, 500 iterations): loss curves agree at every step."""
    batch, _ = mnist_subset
    want_params, want_losses = full_batch_reference
    got_params, got_losses = _run(backend, batch, steps=500, lr=0.1)
    assert got_losses.shape == (500,)
    assert want_losses[-1] < 0.6 * want_losses[0]  # it trains
    for t in range(500):
        assert_close(got_losses[t], want_losses[t], TRAJECTORY["gd_loss"], f"loss at step {t}")
    assert_close(got_params, want_params, TRAJECTORY["gd_loss"], "final params")


def _minibatches(batch, size, epochs, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(epochs):
        order = rng.permutation(len(batch["y"]))
        for i in range(0, len(order), size):
            idx = order[i:i + size]
            out.append({"x": batch["x"][idx], "y": batch["y"][idx]})
    return out


@pytest.fixture(scope="module")
def minibatch_reference(mnist_subset):
    batches = _minibatches(mnist_subset[0], size=128, epochs=2)  # 2000 = 15x128 + 80
    return batches, _run("numpy", batches, lr=0.05)


@pytest.mark.parametrize("backend", _peer_params(PEERS))
def test_minibatch_sgd(backend, minibatch_reference):
    """Shuffled minibatches with a smaller last batch (so JAX takes its per-step path)."""
    batches, (want_params, want_losses) = minibatch_reference
    got_params, got_losses = _run(backend, batches, lr=0.05)
    n = sum(len(b["y"]) for b in batches) // 2  # examples per epoch
    assert len(got_losses) == len(batches) == 2 * -(-n // 128)
    assert len(batches[-1]["y"]) < 128  # the smaller last one
    assert_close(got_losses, want_losses, TRAJECTORY["gd_loss"], "minibatch losses")
    assert_close(got_params, want_params, TRAJECTORY["gd_loss"], "final params")


@pytest.mark.parametrize("backend", _peer_params(PEERS))
def test_equal_minibatches_fused(backend, mnist_subset):
    """Equal-sized minibatches (JAX fuses the run in one lax.scan) with momentum."""
    batches = _minibatches(mnist_subset[0], size=100, epochs=1)
    want_params, want_losses = _run("numpy", batches, lr=0.05, momentum=0.9)
    got_params, got_losses = _run(backend, batches, lr=0.05, momentum=0.9)
    assert_close(got_losses, want_losses, TRAJECTORY["gd_loss"], "losses")
    assert_close(got_params, want_params, TRAJECTORY["gd_loss"], "final params")
