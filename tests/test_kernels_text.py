"""The text and BERT kernels (embedding, masked pooling, layer norm, GELU, attention, heads,
ignore-index cross-entropy, sigmoid cross-entropy at huge logits): hand-derived backward
passes against central finite differences in float64, the edge cases each one defines
(repeated ids, padding rows, all-padding sequences, all-ignored labels), dtypes and errors.

Framework comparisons are in ``parity/test_kernels_text.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernels.embedding import embedding_backward, embedding_forward
from kernels.logistic import sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward
from kernels.losses import (
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    softmax_cross_entropy_ignore_backward,
    softmax_cross_entropy_ignore_forward,
)
from kernels.sequence import masked_mean_pool_backward, masked_mean_pool_forward
from kernels.transformer import (
    attention_backward,
    attention_forward,
    attention_mask_bias,
    gelu_backward,
    gelu_forward,
    layernorm_backward,
    layernorm_forward,
    merge_heads_backward,
    merge_heads_forward,
    split_heads_backward,
    split_heads_forward,
)
from mlsandbox.compare import assert_close
from mlsandbox.testing.gradcheck import FD_TOL, numeric_grad

rng = np.random.default_rng(0)
#: floating-point faults that would mean a kernel is unstable (underflow to 0 is expected)
FAULTS = dict(over="raise", invalid="raise", divide="raise")


def normal(*shape):
    return rng.standard_normal(shape)


def check(name, analytic, f, x):
    """``analytic`` against the central differences of the scalar ``f`` at ``x``."""
    assert_close(analytic, numeric_grad(f, x), FD_TOL, name)


# -- embedding -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n, T, V, d", [(1, 1, 2, 1), (1, 7, 5, 3), (3, 5, 4, 2)])
def test_embedding_gradcheck(n, T, V, d):
    ids = rng.integers(0, V, (n, T))
    table = normal(V, d)
    out, cache = embedding_forward(ids, table)
    np.testing.assert_array_equal(out, table[ids])
    r = normal(*out.shape)
    check("dtable", embedding_backward(r, cache),
          lambda w: (embedding_forward(ids, w)[0] * r).sum(), table)


def test_embedding_repeated_ids_accumulate():
    ids = np.array([[2, 2, 0], [2, 1, 2]])
    table = normal(4, 3)
    _, cache = embedding_forward(ids, table)
    dout = normal(2, 3, 3)
    dtable = embedding_backward(dout, cache)
    np.testing.assert_allclose(dtable[2], dout[0, 0] + dout[0, 1] + dout[1, 0] + dout[1, 2],
                               rtol=0, atol=1e-15)
    np.testing.assert_array_equal(dtable[0], dout[0, 2])
    np.testing.assert_array_equal(dtable[1], dout[1, 1])
    np.testing.assert_array_equal(dtable[3], 0.0)     # unused row


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_embedding_backward_equals_scatter_add(dtype):
    """The sort-and-reduceat scatter adds the same numbers as np.add.at (to rounding: the
    order of the additions within a run may differ)."""
    ids = rng.integers(0, 6, (4, 9))                  # 36 positions over 6 rows: many repeats
    dout = normal(4, 9, 5).astype(dtype)
    _, cache = embedding_forward(ids, np.zeros((6, 5), dtype))
    want = np.zeros((6, 5), dtype)
    np.add.at(want, ids.reshape(-1), dout.reshape(-1, 5))
    got = embedding_backward(dout, cache)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=16 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(got == 0, want == 0)


@pytest.mark.parametrize("padding_idx, row", [(0, 0), (3, 3), (-1, 4)])
def test_embedding_padding_idx_row_gets_no_gradient(padding_idx, row):
    ids = np.array([[row, 1, row, 2], [0, row, 3, 4]])
    table = normal(5, 3)
    out, cache = embedding_forward(ids, table, padding_idx=padding_idx)
    np.testing.assert_array_equal(out, table[ids])    # the forward reads the row as stored
    r = normal(*out.shape)
    dtable = embedding_backward(r, cache)
    np.testing.assert_array_equal(dtable[row], 0.0)
    full = embedding_backward(r, embedding_forward(ids, table)[1])
    others = np.arange(5) != row
    np.testing.assert_array_equal(dtable[others], full[others])
    assert np.abs(full[row]).max() > 0                # without padding_idx it would train


def test_embedding_refuses_bad_ids():
    table = np.zeros((10, 2))
    with pytest.raises(ValueError, match=r"id 10 at position \(1, 0\) is outside \[0, 10\)"):
        embedding_forward(np.array([[1, 2], [10, 3]]), table)
    with pytest.raises(ValueError, match=r"id -1 at position \(0, 1\) is outside \[0, 10\)"):
        embedding_forward(np.array([[1, -1]]), table)
    with pytest.raises(ValueError, match="integer token ids"):
        embedding_forward(np.array([[1.0]]), table)
    with pytest.raises(ValueError, match=r"padding_idx 10 is outside \[-10, 10\)"):
        embedding_forward(np.array([[1]]), table, padding_idx=10)
    with pytest.raises(ValueError, match=r"table must have shape \(V, d\)"):
        embedding_forward(np.array([[1]]), np.zeros(10))


# -- masked mean pooling ------------------------------------------------------------------------
def _mask(n, T, all_zero_row=None):
    m = (rng.random((n, T)) < 0.6).astype(np.int64)
    m[:, 0] = 1
    if all_zero_row is not None:
        m[all_zero_row] = 0
    return m


@pytest.mark.parametrize("n, T, d", [(1, 1, 1), (1, 6, 3), (4, 5, 2)])
def test_masked_mean_pool_gradcheck(n, T, d):
    x = normal(n, T, d)
    m = _mask(n, T, all_zero_row=n - 1 if n > 1 else None)
    y, cache = masked_mean_pool_forward(x, m)
    want = np.stack([x[i][m[i] == 1].mean(axis=0) if m[i].any() else np.zeros(d)
                     for i in range(n)])
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-15)
    r = normal(n, d)
    check("dx masked", masked_mean_pool_backward(r, cache),
          lambda v: (masked_mean_pool_forward(v, m)[0] * r).sum(), x)


@pytest.mark.parametrize("n, T, d", [(1, 4, 3), (3, 5, 2)])
def test_mean_pool_without_mask_is_the_mean_over_T(n, T, d):
    x = normal(n, T, d)
    y, cache = masked_mean_pool_forward(x)
    np.testing.assert_allclose(y, x.mean(axis=1), rtol=0, atol=1e-15)
    np.testing.assert_allclose(y, masked_mean_pool_forward(x, np.ones((n, T)))[0], rtol=0, atol=1e-15)
    r = normal(n, d)
    check("dx unmasked", masked_mean_pool_backward(r, cache),
          lambda v: (masked_mean_pool_forward(v)[0] * r).sum(), x)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_masked_mean_pool_all_padding_row_is_zero_not_nan(dtype):
    x = normal(2, 4, 3).astype(dtype)
    m = np.array([[1, 1, 0, 0], [0, 0, 0, 0]])
    with np.errstate(**FAULTS):
        y, cache = masked_mean_pool_forward(x, m)
        dx = masked_mean_pool_backward(np.ones((2, 3), dtype), cache)
    assert y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_array_equal(y[1], 0.0)
    np.testing.assert_array_equal(dx[1], 0.0)
    np.testing.assert_array_equal(dx[0], [[0.5] * 3, [0.5] * 3, [0.0] * 3, [0.0] * 3])


def test_masked_mean_pool_refuses_bad_masks():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"mask must have shape \(n, T\) = \(2, 3\)"):
        masked_mean_pool_forward(x, np.ones((3, 2)))
    with pytest.raises(ValueError, match="0 \\(padding\\) or 1"):
        masked_mean_pool_forward(x, np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"x must have shape \(n, T, d\)"):
        masked_mean_pool_forward(np.zeros((2, 3)))


# -- sigmoid cross-entropy at huge logits -------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_cross_entropy_exact_at_logits_1e4(dtype):
    """``max(z,0) - yz + log1p(e^-|z|)`` at ±1e4: the losses are exactly 0 or 1e4 and the
    gradients exactly ±1/n or 0 (e^-1e4 underflows to 0 and is only ever added to 1)."""
    z = np.array([1e4, 1e4, -1e4, -1e4], dtype)
    y = np.array([1, 0, 1, 0])
    with np.errstate(**FAULTS):
        loss, cache = sigmoid_cross_entropy_forward(z, y)
        grad = sigmoid_cross_entropy_backward(1.0, cache)
    assert loss.dtype == dtype and grad.dtype == dtype
    assert float(loss) == (0 + 1e4 + 1e4 + 0) / 4
    np.testing.assert_array_equal(grad, np.array([0.0, 1.0, -1.0, 0.0], dtype) / 4)


@pytest.mark.parametrize("n", [1, 7])
def test_sigmoid_cross_entropy_gradcheck(n):
    z = 3 * normal(n)
    y = rng.integers(0, 2, n)
    _, cache = sigmoid_cross_entropy_forward(z, y)
    check("dz", sigmoid_cross_entropy_backward(1.0, cache),
          lambda v: sigmoid_cross_entropy_forward(v, y)[0], z)


# -- layer norm ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, eps", [((1, 1, 5), 1e-12), ((3, 7), 1e-12), ((2, 3, 4), 1e-5)])
def test_layernorm_gradcheck(shape, eps):
    x = 2 * normal(*shape) + 0.5
    d = shape[-1]
    gamma, beta = 1 + 0.3 * normal(d), 0.3 * normal(d)
    y, cache = layernorm_forward(x, gamma, beta, eps=eps)
    xhat = (y - beta) / gamma
    np.testing.assert_allclose(xhat.mean(axis=-1), 0.0, atol=1e-14)
    r = normal(*shape)
    dx, dg, db = layernorm_backward(r, cache)
    f = lambda a, g, b: (layernorm_forward(a, g, b, eps=eps)[0] * r).sum()  # noqa: E731
    check("dx", dx, lambda v: f(v, gamma, beta), x)
    check("dgamma", dg, lambda v: f(x, v, beta), gamma)
    check("dbeta", db, lambda v: f(x, gamma, v), beta)


def test_layernorm_eps_has_no_default():
    with pytest.raises(TypeError, match="eps"):
        layernorm_forward(np.zeros((2, 3)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"gamma and beta must have shape \(3,\)"):
        layernorm_forward(np.zeros((2, 3)), np.ones(4), np.zeros(3), eps=1e-12)


# -- GELU ----------------------------------------------------------------------------------------
def test_gelu_gradcheck_and_values():
    x = 3 * normal(4, 7)
    y, cache = gelu_forward(x)
    want = np.vectorize(lambda a: 0.5 * a * (1 + math.erf(a / math.sqrt(2))))(x)
    np.testing.assert_allclose(y, want, rtol=1e-15, atol=1e-16)
    r = normal(4, 7)
    check("dx", gelu_backward(r, cache), lambda v: (gelu_forward(v)[0] * r).sum(), x)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gelu_keeps_dtype_and_is_finite_far_out(dtype):
    x = np.array([-1e4, -40.0, -1.0, 0.0, 1.0, 40.0, 1e4], dtype)
    with np.errstate(**FAULTS):
        y, cache = gelu_forward(x)
        g = gelu_backward(np.ones_like(x), cache)
    assert y.dtype == dtype and g.dtype == dtype
    np.testing.assert_array_equal(y[[0, 1, 3, 5, 6]], np.array([0, 0, 0, 40, 1e4], dtype))
    np.testing.assert_array_equal(g[[0, 1, 5, 6]], np.array([0, 0, 1, 1], dtype))
    assert g[3] == 0.5


# -- attention -----------------------------------------------------------------------------------
def _qkv(n, h, tq, tk, dh):
    return normal(n, h, tq, dh), normal(n, h, tk, dh), normal(n, h, tk, dh)


@pytest.mark.parametrize("n, h, tq, tk, dh, masked", [
    (1, 1, 1, 1, 1, False), (1, 2, 5, 5, 3, True), (3, 2, 3, 4, 2, True), (2, 3, 4, 4, 5, False)])
def test_attention_gradcheck(n, h, tq, tk, dh, masked):
    q, k, v = _qkv(n, h, tq, tk, dh)
    m = _mask(n, tk) if masked else None
    out, cache = attention_forward(q, k, v, m)
    r = normal(*out.shape)
    dq, dk, dv = attention_backward(r, cache)
    f = lambda a, b, c: (attention_forward(a, b, c, m)[0] * r).sum()  # noqa: E731
    check("dq", dq, lambda x: f(x, k, v), q)
    check("dk", dk, lambda x: f(q, x, v), k)
    check("dv", dv, lambda x: f(q, k, x), v)
    if masked:                          # padded keys: weight 0, no gradient
        pad = (m == 0)[:, None, :, None]
        assert np.all(cache[0][np.broadcast_to((m == 0)[:, None, None, :], cache[0].shape)] == 0)
        assert np.all(np.where(pad, dk, 0) == 0) and np.all(np.where(pad, dv, 0) == 0)


def test_attention_without_padding_equals_the_plain_formula():
    q, k, v = _qkv(2, 3, 4, 4, 5)
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(5)
    p = np.exp(s) / np.exp(s).sum(-1, keepdims=True)
    np.testing.assert_allclose(attention_forward(q, k, v)[0], p @ v, rtol=0, atol=1e-14)
    np.testing.assert_allclose(attention_forward(q, k, v, np.ones((2, 4)))[0], p @ v, rtol=0, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_attention_fully_padded_sequence_is_uniform_not_nan(dtype):
    """finfo.min added to every score of a row: the row is constant, its softmax 1/T."""
    q, k, v = (a.astype(dtype) for a in _qkv(2, 2, 3, 3, 4))
    m = np.array([[1, 1, 0], [0, 0, 0]])
    with np.errstate(**FAULTS):
        out, cache = attention_forward(q, k, v, m)
        grads = attention_backward(np.ones_like(out), cache)
    p = cache[0]
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    np.testing.assert_array_equal(p[1], np.full((2, 3, 3), 1 / 3, dtype))
    np.testing.assert_allclose(out[1], np.broadcast_to(v[1].mean(axis=1, keepdims=True), (2, 3, 4)),
                               rtol=0, atol=4 * np.finfo(dtype).eps)
    assert all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_array_equal(p[0][..., 2], 0.0)


def test_attention_mask_bias_is_hugging_face_s():
    b = attention_mask_bias(np.array([[1, 0, 1]]), "float32")
    assert b.shape == (1, 1, 1, 3) and b.dtype == np.float32
    np.testing.assert_array_equal(b[0, 0, 0], [0, np.finfo(np.float32).min, 0])
    np.testing.assert_array_equal(b, (1 - np.array([[1, 0, 1]], np.float32))[:, None, None, :]
                                  * np.finfo(np.float32).min)
    with pytest.raises(ValueError, match="1 \\(keep\\) or 0 \\(padding\\)"):
        attention_mask_bias(np.array([[1, 2]]), "float64")
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(n, Tk\) = \(1, 4\)"):
        attention_forward(*_qkv(1, 1, 4, 4, 2), np.ones((1, 3)))


# -- heads ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, T, h, dh", [(1, 1, 1, 1), (1, 5, 3, 2), (3, 4, 2, 3)])
def test_split_merge_heads(n, T, h, dh):
    x = normal(n, T, h * dh)
    y, cache = split_heads_forward(x, h)
    assert y.shape == (n, h, T, dh)
    np.testing.assert_array_equal(y[:, 1 % h, :, :], x[:, :, (1 % h) * dh:(1 % h + 1) * dh])
    back, mcache = merge_heads_forward(y)
    np.testing.assert_array_equal(back, x)
    r = normal(n, h, T, dh)
    check("split dx", split_heads_backward(r, cache),
          lambda v: (split_heads_forward(v, h)[0] * r).sum(), x)
    r2 = normal(n, T, h * dh)
    check("merge dx", merge_heads_backward(r2, mcache),     # numeric_grad needs C order
          lambda v: (merge_heads_forward(v)[0] * r2).sum(), np.ascontiguousarray(y))


def test_split_heads_refuses_a_width_that_does_not_divide():
    with pytest.raises(ValueError, match="width 10 is not a multiple of num_heads=3"):
        split_heads_forward(np.zeros((1, 2, 10)), 3)


# -- cross-entropy with ignored positions ----------------------------------------------------------
@pytest.mark.parametrize("shape, V", [((1, 1), 2), ((1, 7), 5), ((3, 4), 6)])
def test_cross_entropy_ignore_gradcheck(shape, V):
    z = 2 * normal(*shape, V)
    y = rng.integers(0, V, shape)
    y[rng.random(shape) < 0.4] = -100
    y.flat[0] = 1                                   # at least one position counts
    loss, cache = softmax_cross_entropy_ignore_forward(z, y)
    keep = y != -100
    want, _ = softmax_cross_entropy_forward(z[keep], y[keep])
    assert abs(float(loss) - float(want)) < 1e-14
    g = softmax_cross_entropy_ignore_backward(1.0, cache)
    assert g.shape == z.shape
    np.testing.assert_array_equal(g[~keep], 0.0)
    check("dz", g, lambda v: softmax_cross_entropy_ignore_forward(v, y)[0], z)


def test_cross_entropy_ignore_without_ignored_labels_is_the_plain_mean():
    z, y = normal(6, 4), rng.integers(0, 4, 6)
    loss, cache = softmax_cross_entropy_ignore_forward(z, y)
    want, wcache = softmax_cross_entropy_forward(z, y)
    assert abs(float(loss) - float(want)) < 1e-15
    np.testing.assert_allclose(softmax_cross_entropy_ignore_backward(1.0, cache),
                               softmax_cross_entropy_backward(1.0, wcache), rtol=0, atol=1e-16)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_all_ignored_is_zero_with_zero_gradient(dtype):
    z = normal(2, 3, 5).astype(dtype)
    y = np.full((2, 3), -100)
    with np.errstate(**FAULTS):
        loss, cache = softmax_cross_entropy_ignore_forward(z, y)
        g = softmax_cross_entropy_ignore_backward(1.0, cache)
    assert loss.dtype == dtype and g.dtype == dtype
    assert float(loss) == 0.0
    np.testing.assert_array_equal(g, 0.0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_ignore_stable_for_huge_logits(dtype):
    z = np.array([[[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, 0.0], [1e4, -1e4, 0.0]]], dtype)
    y = np.array([[1, 0, -100]])
    with np.errstate(**FAULTS):
        loss, cache = softmax_cross_entropy_ignore_forward(z, y)
        g = softmax_cross_entropy_ignore_backward(1.0, cache)
    want = (1e4 + np.log1p(np.exp(-1.0))) / 2
    assert abs(float(loss) - want) / want < (1e-15 if dtype == "float64" else 1e-7)
    np.testing.assert_allclose(g[0, 0], [0.5, -0.5, 0.0], atol=1e-7)
    np.testing.assert_array_equal(g[0, 2], 0.0)


def test_cross_entropy_ignore_refuses_bad_labels():
    z = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"label 4 is outside \[0, 4\) and is not the ignore_index -100"):
        softmax_cross_entropy_ignore_forward(z, np.array([[0, -100, 4], [1, 1, 1]]))
    with pytest.raises(ValueError, match=r"label -1 is outside"):
        softmax_cross_entropy_ignore_forward(z, np.array([[0, -1, 1], [1, 1, 1]]))
    with pytest.raises(ValueError, match="without its last axis"):
        softmax_cross_entropy_ignore_forward(z, np.zeros((2, 4), int))
    loss, _ = softmax_cross_entropy_ignore_forward(z, np.array([[0, -1, 1], [1, 1, -1]]), ignore_index=-1)
    assert abs(float(loss) - math.log(4)) < 1e-15


# -- dtypes: float32 in, float32 out, for every kernel ------------------------------------------------
def _float32_runs():
    f = np.float32
    x3, m = normal(2, 5, 4).astype(f), _mask(2, 5)
    ids = rng.integers(0, 6, (2, 5))
    q, k, v = (a.astype(f) for a in _qkv(2, 2, 5, 5, 3))
    z, y = normal(2, 5, 6).astype(f), rng.integers(0, 6, (2, 5))
    return {
        "embedding": (lambda: embedding_forward(ids, normal(6, 4).astype(f)), embedding_backward),
        "masked_mean_pool": (lambda: masked_mean_pool_forward(x3, m), masked_mean_pool_backward),
        "layernorm": (lambda: layernorm_forward(x3, np.ones(4, f), np.zeros(4, f), eps=1e-12),
                      layernorm_backward),
        "gelu": (lambda: gelu_forward(x3), gelu_backward),
        "attention": (lambda: attention_forward(q, k, v, m), attention_backward),
        "split_heads": (lambda: split_heads_forward(x3, 2), split_heads_backward),
        "merge_heads": (lambda: merge_heads_forward(q), merge_heads_backward),
        "cross_entropy_ignore": (lambda: softmax_cross_entropy_ignore_forward(z, y),
                                 softmax_cross_entropy_ignore_backward),
    }


@pytest.mark.parametrize("kernel", list(_float32_runs()))
def test_float32_stays_float32(kernel):
    forward, backward = _float32_runs()[kernel]
    out, cache = forward()
    assert out.dtype == np.float32
    grads = backward(np.ones_like(out), cache)
    for g in grads if isinstance(grads, tuple) else (grads,):
        assert g.dtype == np.float32, f"{kernel}: gradient dtype {g.dtype}"
