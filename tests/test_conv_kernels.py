"""Finite-difference checks (float64) of the conv2d, max-pool and flatten reference kernels.

Each case checks the analytic gradient of ``L = Σ y · g`` (``g`` a fixed random
cotangent) against central differences ``(L(θ+h) - L(θ-h)) / 2h`` for every input and
parameter entry, at h = 1e-6; the tolerance 1e-7 is far above the O(h²) truncation and
rounding error and far below any real mistake.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels.conv import conv2d_backward, conv2d_forward, conv2d_output_size, conv_padding
from kernels.pool import flatten_backward, flatten_forward, maxpool2d_backward, maxpool2d_forward

H = 1e-6
FD_TOL = 1e-7


def numeric_grad(f, a: np.ndarray) -> np.ndarray:
    """Central-difference gradient of scalar ``f()`` with respect to ``a`` (in place)."""
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + H
        up = f()
        a[i] = old - H
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * H)
    return g


def assert_fd(analytic, numeric, what):
    err = np.max(np.abs(analytic - numeric)) / max(1.0, np.max(np.abs(numeric)))
    assert err < FD_TOL, f"{what}: analytic vs finite-difference error {err:.2e}"


CONV_CASES = [
    # (H, W, C_in, C_out, kh, kw, stride, padding)
    pytest.param(5, 6, 2, 3, 3, 3, 1, "valid", id="3x3-valid"),
    pytest.param(5, 5, 2, 3, 3, 3, 1, "same", id="3x3-same"),
    pytest.param(7, 6, 2, 2, 2, 2, 2, "same", id="2x2-stride2-same-odd"),
    pytest.param(6, 7, 1, 2, 4, 3, 2, "same", id="4x3-stride2-same"),
    pytest.param(5, 5, 3, 2, 1, 1, 1, "valid", id="1x1"),
    pytest.param(6, 5, 2, 2, 3, 2, (2, 1), ((1, 2), (0, 1)), id="explicit-pads"),
    pytest.param(4, 4, 2, 2, 3, 3, 1, 1, id="int-pad"),
]


@pytest.mark.parametrize("h, w, cin, cout, kh, kw, stride, padding", CONV_CASES)
def test_conv2d_gradients_match_finite_differences(h, w, cin, cout, kh, kw, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, h, w, cin))
    k = rng.standard_normal((kh, kw, cin, cout))
    b = rng.standard_normal(cout)
    y, cache = conv2d_forward(x, k, b, stride=stride, padding=padding)
    g = rng.standard_normal(y.shape)
    dx, dk, db = conv2d_backward(g, cache)

    def loss():
        return float(np.sum(conv2d_forward(x, k, b, stride=stride, padding=padding)[0] * g))

    assert_fd(dx, numeric_grad(loss, x), "dx")
    assert_fd(dk, numeric_grad(loss, k), "dkernel")
    assert_fd(db, numeric_grad(loss, b), "dbias")


def test_conv2d_forward_matches_the_definition():
    """Forward against the textbook sum over the window, written as four loops."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 6, 3))
    k = rng.standard_normal((3, 2, 3, 4))
    b = rng.standard_normal(4)
    y, _ = conv2d_forward(x, k, b, stride=2, padding="same")
    (top, _), (left, _) = conv_padding("same", (7, 6), (3, 2), (2, 2))
    xp = np.pad(x, ((0, 0), (top, 3), (left, 3), (0, 0)))
    want = np.zeros_like(y)
    for n in range(2):
        for r in range(y.shape[1]):
            for c in range(y.shape[2]):
                patch = xp[n, 2 * r:2 * r + 3, 2 * c:2 * c + 2, :]
                want[n, r, c] = np.einsum("ijc,ijco->o", patch, k) + b
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("size, k, s, want", [
    (64, 3, 1, (1, 1)), (7, 2, 2, (0, 1)), (6, 2, 2, (0, 0)), (5, 4, 2, (1, 2)), (5, 1, 2, (0, 0)),
])
def test_same_padding_puts_the_extra_pixel_after(size, k, s, want):
    assert conv_padding("same", (size, size), (k, k), (s, s))[0] == want
    assert conv2d_output_size((size, size), k, s, "same") == (-(-size // s),) * 2


def test_conv2d_errors_name_the_problem():
    x = np.zeros((1, 5, 5, 3))
    with pytest.raises(ValueError, match="expects 2"):
        conv2d_forward(x, np.zeros((3, 3, 2, 4)))
    with pytest.raises(ValueError, match="NHWC"):
        conv2d_forward(x[0], np.zeros((3, 3, 3, 4)))
    with pytest.raises(ValueError, match="does not fit"):
        conv2d_forward(x, np.zeros((7, 7, 3, 4)))
    with pytest.raises(ValueError, match="padding must be"):
        conv2d_forward(x, np.zeros((3, 3, 3, 4)), padding="full")


POOL_CASES = [
    pytest.param(6, 6, 2, None, "valid", id="2x2"),
    pytest.param(7, 5, 2, None, "valid", id="2x2-odd-drops-edge"),
    pytest.param(7, 5, 2, None, "same", id="2x2-same-odd"),
    pytest.param(7, 7, 3, 2, "valid", id="3x3-stride2-overlapping"),
]


@pytest.mark.parametrize("h, w, size, stride, padding", POOL_CASES)
def test_maxpool_gradients_match_finite_differences(h, w, size, stride, padding):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, h, w, 3))      # distinct values: the max is differentiable
    y, cache = maxpool2d_forward(x, size, stride, padding)
    g = rng.standard_normal(y.shape)
    dx = maxpool2d_backward(g, cache)

    def loss():
        return float(np.sum(maxpool2d_forward(x, size, stride, padding)[0] * g))

    assert_fd(dx, numeric_grad(loss, x), "dx")


def test_maxpool_ties_send_the_gradient_to_the_first_maximum():
    x = np.zeros((1, 4, 4, 1))
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = x[0, 1, 1, 0] = 5.0     # window (0,0): three tied maxima
    x[0, 2:4, 2:4, 0] = 1.0                                  # window (1,1): four tied maxima
    y, cache = maxpool2d_forward(x, 2)
    dx = maxpool2d_backward(np.ones_like(y), cache)
    assert y[0, :, :, 0].tolist() == [[5.0, 0.0], [0.0, 1.0]]
    assert dx[0, :2, :2, 0].tolist() == [[0.0, 1.0], [0.0, 0.0]]   # (0, 1): first row-major
    assert dx[0, 2:, 2:, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert dx.sum() == y.size


def test_maxpool_overlapping_windows_accumulate_on_a_shared_maximum():
    x = np.zeros((1, 5, 5, 1))
    x[0, 2, 2, 0] = 9.0          # the centre lies in all four 3x3 windows (stride 2)
    y, cache = maxpool2d_forward(x, 3, 2)
    dx = maxpool2d_backward(np.ones_like(y), cache)
    assert dx[0, 2, 2, 0] == 4.0 and dx.sum() == 4.0


def test_flatten_is_hwc_order_and_its_backward_inverts_it():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    y, cache = flatten_forward(x)
    assert y.shape == (2, 60)
    assert y[1, 5 * 4 + 5 + 2] == x[1, 1, 1, 2]
    np.testing.assert_array_equal(flatten_backward(y, cache), x)


def test_dropout_gradient_matches_finite_differences_and_scales_inverted():
    from kernels.dropout import dropout_backward, dropout_forward, dropout_mask

    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 8))
    mask = dropout_mask(x.shape, 0.5, rng)
    y, cache = dropout_forward(x, mask, 0.5)
    np.testing.assert_array_equal(y, x * mask * 2.0)
    g = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(dropout_forward(x, mask, 0.5)[0] * g))

    assert_fd(dropout_backward(g, cache), numeric_grad(loss, x), "dx")
    y_eval, c_eval = dropout_forward(x, None, 0.5)
    assert y_eval is x and dropout_backward(g, c_eval) is g
    keep = dropout_mask((200_000,), 0.3, np.random.default_rng(0)).mean()
    assert abs(keep - 0.7) < 0.005
