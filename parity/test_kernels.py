"""Every NumPy kernel against the same op in JAX, torch and TensorFlow, values and
gradients through each framework's own autodiff."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import kernels as K
from mlsandbox.compare import assert_close, tolerance
from mlsandbox.testing.cases import DTYPES
from mlsandbox.testing.frameworks import FRAMEWORKS, ops, vjp


def _dense(dtype, rng):
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((7, 5), (5, 3), (3,)))
    out, cache = K.dense_forward(x, w, b)
    cot = rng.standard_normal(out.shape).astype(dtype)
    return (x, w, b), (), out, cot, list(K.dense_backward(cot, cache))


def _relu(dtype, rng):
    z = rng.standard_normal((6, 4)).astype(dtype)
    z[0, :2] = 0.0  # the kink: every framework takes the subgradient 0 there
    out, cache = K.relu_forward(z)
    cot = rng.standard_normal(out.shape).astype(dtype)
    return (z,), (), out, cot, [K.relu_backward(cot, cache)]


def _softmax(dtype, rng):
    z = (3 * rng.standard_normal((5, 7))).astype(dtype)
    out, cache = K.softmax_forward(z)
    cot = rng.standard_normal(out.shape).astype(dtype)
    return (z,), (), out, cot, [K.softmax_backward(cot, cache)]


def _cross_entropy(dtype, rng, scale=2.0):
    z = (scale * rng.standard_normal((9, 10))).astype(dtype)
    y = rng.integers(0, 10, 9).astype(np.int32)
    out, cache = K.softmax_cross_entropy_forward(z, y)
    cot = np.asarray(1.0, dtype)
    return (z,), (y,), out, cot, [K.softmax_cross_entropy_backward(cot, cache)]


CASES = {
    "dense": ("dense", _dense),
    "relu": ("relu", _relu),
    "softmax": ("softmax", _softmax),
    "softmax_cross_entropy": ("softmax_cross_entropy", _cross_entropy),
    "softmax_cross_entropy-logits1e4": (
        "softmax_cross_entropy", lambda d, r: _cross_entropy(d, r, scale=1e4)),
}


@pytest.mark.parametrize("case, framework, dtype", [
    pytest.param(c, f, d, id=f"{c}-{f}-{d}", marks=getattr(pytest.mark, "keras" if f == "tensorflow" else f))
    for c, f, d in itertools.product(CASES, FRAMEWORKS, DTYPES)])
def test_kernel(case, framework, dtype):
    op, make = CASES[case]
    inputs, consts, want_out, cot, want_grads = make(dtype, np.random.default_rng(0))
    got_out, got_grads = vjp(framework, ops(framework)[op], inputs, cot, consts)
    assert got_out.dtype.name == dtype
    assert_close(got_out, want_out, tolerance(dtype, "value"), f"{case} value")
    for i, (g, w) in enumerate(zip(got_grads, want_grads)):
        assert_close(g, w, tolerance(dtype, "grad"), f"{case} gradient of input {i}")
