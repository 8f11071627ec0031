"""Forward outputs, losses and every gradient of every network agree with the NumPy
reference, in float64 (1e-10) and float32 (1e-5, gradients 1e-4)."""

from __future__ import annotations

import functools

import pytest

import models
from mlsandbox.compare import assert_close, tolerance
from mlsandbox.testing.cases import NETWORK_CASES, network_backend_dtype_size


@functools.lru_cache(maxsize=None)
def net(name, backend):
    return models.get(name, backend, **NETWORK_CASES[name]["config"])


@functools.lru_cache(maxsize=None)
def case(name, dtype, n):
    """Params (seeded), a batch of ``n`` and the NumPy reference's answers."""
    spec = net(name, "numpy").spec
    params = spec.init(seed=1, dtype=dtype)
    batch = spec.example(n=n, seed=2, dtype=dtype)
    ref = net(name, "numpy")
    return params, batch, ref.forward(params, batch), ref.loss_and_grads(params, batch)


@pytest.mark.parametrize("name, backend, dtype, n", network_backend_dtype_size())
def test_forward(name, backend, dtype, n):
    params, batch, want, _ = case(name, dtype, n)
    got = net(name, backend).forward(params, batch)
    assert got.dtype.name == dtype
    assert_close(got, want, tolerance(dtype, "value"), f"{name}/{backend} logits")


@pytest.mark.parametrize("name, backend, dtype, n", network_backend_dtype_size())
def test_loss(name, backend, dtype, n):
    params, batch, _, (want, _) = case(name, dtype, n)
    got, _ = net(name, backend).loss_and_grads(params, batch)
    assert_close(got, want, tolerance(dtype, "value"), f"{name}/{backend} loss")


@pytest.mark.parametrize("name, backend, dtype, n", network_backend_dtype_size())
def test_grads(name, backend, dtype, n):
    params, batch, _, (_, want) = case(name, dtype, n)
    _, got = net(name, backend).loss_and_grads(params, batch)
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype.name == dtype, k
    assert_close(got, want, tolerance(dtype, "grad"), f"{name}/{backend} gradients")
