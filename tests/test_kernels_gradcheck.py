"""Hand-derived backward passes of the NumPy kernels against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import models
from kernels import (
    dense_backward,
    dense_forward,
    one_hot,
    relu_backward,
    relu_forward,
    softmax_backward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    softmax_forward,
)
from mlsandbox.compare import assert_close
from mlsandbox.testing.gradcheck import FD_TOL, numeric_grad

rng = np.random.default_rng(0)


def away_from_zero(shape):
    """Normal values pushed at least 0.1 away from 0 (ReLU's kink breaks differences)."""
    x = rng.standard_normal(shape)
    return x + 0.1 * np.sign(x)


@pytest.mark.parametrize("n, d_in, d_out", [(1, 3, 2), (5, 4, 3), (7, 1, 6)])
def test_dense(n, d_in, d_out):
    x, w, b = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out)), rng.standard_normal(d_out)
    r = rng.standard_normal((n, d_out))  # L = sum(r * y): dL/dy = r
    _, cache = dense_forward(x, w, b)
    dx, dw, db = dense_backward(r, cache)
    assert_close(dx, numeric_grad(lambda v: (dense_forward(v, w, b)[0] * r).sum(), x), FD_TOL, "dx")
    assert_close(dw, numeric_grad(lambda v: (dense_forward(x, v, b)[0] * r).sum(), w), FD_TOL, "dW")
    assert_close(db, numeric_grad(lambda v: (dense_forward(x, w, v)[0] * r).sum(), b), FD_TOL, "db")


def test_dense_bias_gradient_is_per_unit_not_scalar():
    """The classic notebook's ``db = np.sum(dZ)`` collapses all units into one number."""
    _, cache = dense_forward(np.ones((4, 2)), np.ones((2, 3)), np.zeros(3))
    dy = np.arange(12.0).reshape(4, 3)
    _, _, db = dense_backward(dy, cache)
    assert db.shape == (3,)
    np.testing.assert_array_equal(db, dy.sum(axis=0))


def test_relu():
    x = away_from_zero((4, 5))
    r = rng.standard_normal(x.shape)
    _, cache = relu_forward(x)
    assert_close(relu_backward(r, cache),
                 numeric_grad(lambda v: (relu_forward(v)[0] * r).sum(), x), FD_TOL, "relu")


def test_relu_gradient_at_zero_is_zero():
    _, cache = relu_forward(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(relu_backward(np.ones(3), cache), [0.0, 0.0, 1.0])


@pytest.mark.parametrize("shape", [(1, 2), (3, 5), (6, 10)])
def test_softmax(shape):
    z = rng.standard_normal(shape) * 3
    r = rng.standard_normal(shape)
    p, cache = softmax_forward(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    assert_close(softmax_backward(r, cache),
                 numeric_grad(lambda v: (softmax_forward(v)[0] * r).sum(), z), FD_TOL, "softmax")


@pytest.mark.parametrize("n, k", [(1, 2), (4, 3), (9, 10)])
def test_softmax_cross_entropy(n, k):
    z = rng.standard_normal((n, k)) * 2
    y = rng.integers(0, k, n)
    loss, cache = softmax_cross_entropy_forward(z, y)
    want = -np.mean(np.log(softmax_forward(z)[0][np.arange(n), y]))
    assert abs(float(loss) - want) < 1e-14
    assert_close(softmax_cross_entropy_backward(1.0, cache),
                 numeric_grad(lambda v: softmax_cross_entropy_forward(v, y)[0], z), FD_TOL, "CE")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_cross_entropy_stable_for_huge_logits(dtype):
    """Logits of 1e4 overflow exp() unless the row maximum is subtracted first."""
    z = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, 0.0]], dtype=dtype)
    y = np.array([1, 0])
    with np.errstate(over="raise", invalid="raise"):
        loss, cache = softmax_cross_entropy_forward(z, y)
        grad = softmax_cross_entropy_backward(1.0, cache)
    # row 1: log-sum-exp = 1e4 exactly, loss 1e4; row 2: log(1 + e^-1) = 0.3133
    want = (1e4 + np.log1p(np.exp(-1.0))) / 2
    assert abs(float(loss) - want) / want < (1e-15 if dtype == "float64" else 1e-7)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad[0], [0.5, -0.5, 0.0], atol=1e-7)


def test_one_hot_rejects_bad_labels():
    with pytest.raises(ValueError, match="label 3 is outside"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="integer class ids"):
        one_hot(np.array([0.0, 1.0]), 3)


@pytest.mark.parametrize("n", [1, 5])
def test_mlp_reference_gradients(n):
    """The whole MLP reference: every parameter's gradient by finite differences."""
    spec = models.spec("mlp", n_in=6, n_hidden=5, n_out=4)
    net = models.get("mlp", "numpy", n_in=6, n_hidden=5, n_out=4)
    params = spec.init(seed=3, dtype="float64")
    batch = spec.example(n=n, seed=4, dtype="float64")
    _, grads = net.loss_and_grads(params, batch)
    for k in params:
        def f(v, k=k):
            return net.loss_and_grads({**params, k: v}, batch)[0]
        assert_close(grads[k], numeric_grad(f, params[k]), FD_TOL, k)
