"""conv2d, max-pool and flatten: the NumPy reference kernels against torch, JAX and
TensorFlow autodiff (values and every gradient), float64 and float32.

The awkward cases are the point: stride 2 with 'same' padding and even kernels (TF and
XLA pad asymmetrically, torch refuses ``padding='same'`` with a stride and is padded
explicitly the way its users do, ``F.pad``), odd image sizes, 1x1 kernels, and max-pool
with tied maxima, where each framework sends the whole gradient to one element: the
first maximum in row-major order, in every framework (checked below).
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels.conv import _pair, conv2d_backward, conv2d_forward, conv_padding
from kernels.pool import flatten_backward, flatten_forward, maxpool2d_backward, maxpool2d_forward
from mlsandbox.compare import assert_close, tolerance
from mlsandbox.testing.cases import DTYPES
from models.frameworks import load_jax, load_keras, load_torch

#: torch's own 'same' with an even kernel copies the input to pad it; that is the point
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")


# -- conv2d in each framework: (y, dx, dw, db) for cotangent g ---------------------------------
def conv_torch(x, w, b, g, stride, padding):
    torch = load_torch()
    F = torch.nn.functional
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)     # NHWC -> NCHW
    wt = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)     # HWIO -> OIHW
    bt = torch.tensor(b, requires_grad=True)
    s = _pair(stride, "stride")
    if padding == "same" and s == (1, 1):
        y = F.conv2d(xt, wt, bt, stride=s, padding="same")             # torch's own 'same'
    else:
        (top, bottom), (left, right) = conv_padding(padding, x.shape[1:3], w.shape[:2], s)
        y = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, bt, stride=s)
    y.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    return (y.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1),
            wt.grad.numpy().transpose(2, 3, 1, 0), bt.grad.numpy())


def _xla_padding(padding, x, w, stride):
    if isinstance(padding, str):
        return padding.upper()
    return [tuple(p) for p in conv_padding(padding, x.shape[1:3], w.shape[:2], stride)]


def conv_jax(x, w, b, g, stride, padding):
    jax, jnp = load_jax()
    s = _pair(stride, "stride")

    def f(x, w, b):
        y = jax.lax.conv_general_dilated(x, w, s, _xla_padding(padding, x, w, s),
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                         precision="highest")
        return y + b

    y, vjp = jax.vjp(f, jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))
    return tuple(np.asarray(a) for a in (y, *vjp(jnp.asarray(g))))


def conv_tf(x, w, b, g, stride, padding):
    _, tf = load_keras()
    s = _pair(stride, "stride")
    pad = _xla_padding(padding, x, w, s)
    if not isinstance(pad, str):
        pad = [[0, 0], list(pad[0]), list(pad[1]), [0, 0]]
    xv, wv, bv = (tf.Variable(a) for a in (x, w, b))
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(xv, wv, strides=[1, *s, 1], padding=pad) + bv
    grads = tape.gradient(y, [xv, wv, bv], output_gradients=tf.constant(g))
    return tuple(np.asarray(a) for a in (y, *grads))


CONV_FRAMEWORKS = {
    "torch": pytest.param(conv_torch, marks=pytest.mark.torch, id="torch"),
    "jax": pytest.param(conv_jax, marks=pytest.mark.jax, id="jax"),
    "tf": pytest.param(conv_tf, marks=pytest.mark.keras, id="tf"),
}

CONV_CASES = [
    # (n, H, W, C_in, C_out, kh, kw, stride, padding)
    pytest.param(1, 9, 9, 3, 4, 3, 3, 1, "valid", id="3x3-valid-n1"),
    pytest.param(3, 9, 7, 3, 4, 3, 3, 1, "same", id="3x3-same-odd"),
    pytest.param(3, 8, 8, 2, 3, 2, 2, 1, "same", id="2x2-stride1-same-even-kernel"),
    pytest.param(3, 9, 9, 2, 3, 2, 2, 2, "same", id="2x2-stride2-same-odd-image"),
    pytest.param(1, 10, 11, 2, 3, 4, 4, 2, "same", id="4x4-stride2-same"),
    pytest.param(3, 7, 7, 3, 5, 1, 1, 1, "valid", id="1x1"),
    pytest.param(2, 7, 8, 2, 2, 1, 1, 2, "same", id="1x1-stride2"),
    pytest.param(2, 9, 8, 2, 3, 3, 2, (2, 1), ((1, 2), (0, 1)), id="explicit-asymmetric"),
]


@pytest.mark.parametrize("framework", CONV_FRAMEWORKS.values())
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, h, w, cin, cout, kh, kw, stride, padding", CONV_CASES)
def test_conv2d(framework, dtype, n, h, w, cin, cout, kh, kw, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    k = rng.standard_normal((kh, kw, cin, cout)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    y, cache = conv2d_forward(x, k, b, stride=stride, padding=padding)
    g = rng.standard_normal(y.shape).astype(dtype)
    want = (y, *conv2d_backward(g, cache))
    got = framework(x, k, b, g, stride, padding)
    for name, a, e, kind in zip(("y", "dx", "dkernel", "dbias"), got, want,
                                ("value", "grad", "grad", "grad")):
        assert a.shape == e.shape, f"{name}: shape {a.shape}, reference {e.shape}"
        assert a.dtype.name == dtype, f"{name}: dtype {a.dtype}"
        assert_close(a, e, tolerance(dtype, kind), name)


@pytest.mark.torch
def test_torch_refuses_same_padding_with_a_stride():
    """Why the torch networks pad explicitly: ``padding='same'`` needs stride 1."""
    torch = load_torch()
    conv = torch.nn.functional.conv2d
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided"):
        conv(torch.zeros(1, 2, 8, 8), torch.zeros(3, 2, 2, 2), stride=2, padding="same")


# -- max-pool ----------------------------------------------------------------------------------
def pool_torch(x, g, size, stride, padding, channels_last=False):
    torch = load_torch()
    F = torch.nn.functional
    xt = torch.tensor(x.transpose(0, 3, 1, 2))
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
    xt.requires_grad_(True)
    kh, kw = _pair(size, "size")
    s = _pair(stride or size, "stride")
    (top, bottom), (left, right) = conv_padding(padding, x.shape[1:3], (kh, kw), s)
    xin = F.pad(xt, (left, right, top, bottom), value=-float("inf")) if top + bottom + left + right else xt
    y = F.max_pool2d(xin, (kh, kw), s)
    y.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    return y.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1)


def pool_torch_channels_last(x, g, size, stride, padding):
    return pool_torch(x, g, size, stride, padding, channels_last=True)


def pool_flax(x, g, size, stride, padding):
    jax, jnp = load_jax()
    from flax import nnx

    kh, kw = _pair(size, "size")
    s = _pair(stride or size, "stride")
    y, vjp = jax.vjp(lambda a: nnx.max_pool(a, (kh, kw), s, padding.upper()), jnp.asarray(x))
    return np.asarray(y), np.asarray(vjp(jnp.asarray(g))[0])


def pool_tf(x, g, size, stride, padding):
    _, tf = load_keras()
    s = _pair(stride or size, "stride")
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.nn.max_pool2d(xv, _pair(size, "size"), s, padding.upper())
    return np.asarray(y), np.asarray(tape.gradient(y, xv, output_gradients=tf.constant(g)))


POOL_FRAMEWORKS = [
    pytest.param(pool_torch, marks=pytest.mark.torch, id="torch"),
    pytest.param(pool_torch_channels_last, marks=pytest.mark.torch, id="torch-channels-last"),
    pytest.param(pool_flax, marks=pytest.mark.jax, id="flax"),
    pytest.param(pool_tf, marks=pytest.mark.keras, id="tf"),
]

POOL_CASES = [
    pytest.param(3, 8, 8, 2, None, "valid", id="2x2"),
    pytest.param(1, 13, 11, 2, None, "valid", id="2x2-odd"),
    pytest.param(3, 9, 7, 2, None, "same", id="2x2-same-odd"),
    pytest.param(2, 9, 9, 3, 2, "valid", id="3x3-stride2-overlapping"),
]


@pytest.mark.parametrize("framework", POOL_FRAMEWORKS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, h, w, size, stride, padding", POOL_CASES)
def test_maxpool(framework, dtype, n, h, w, size, stride, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, h, w, 3)).astype(dtype)
    y, cache = maxpool2d_forward(x, size, stride, padding)
    g = rng.standard_normal(y.shape).astype(dtype)
    got_y, got_dx = framework(x, g, size, stride, padding)
    assert_close(got_y, y, tolerance(dtype, "value"), "max-pool output")
    assert_close(got_dx, maxpool2d_backward(g, cache), tolerance(dtype, "grad"), "max-pool dx")


def tied_input(dtype):
    """Every 2x2 window of a 6x6 image holds its maximum 2-4 times, in every pattern."""
    patterns = [[[1, 1], [0, 0]], [[0, 1], [1, 0]], [[0, 0], [1, 1]], [[1, 1], [1, 1]],
                [[1, 0], [0, 1]], [[0, 1], [1, 1]], [[1, 0], [1, 0]], [[0, 1], [0, 1]],
                [[1, 1], [1, 0]]]
    x = np.zeros((1, 6, 6, 2), dtype=dtype)
    for k, p in enumerate(patterns):
        r, c = divmod(k, 3)
        x[0, 2 * r:2 * r + 2, 2 * c:2 * c + 2, 0] = np.asarray(p) * (k + 1)
    x[..., 1] = 0.0       # channel 1: all zero, as after a ReLU of negative inputs
    return x


@pytest.mark.parametrize("framework", POOL_FRAMEWORKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool_tied_maxima_first_in_row_major_order(framework, dtype):
    x = tied_input(dtype)
    y, cache = maxpool2d_forward(x, 2)
    g = np.arange(1, y.size + 1, dtype=dtype).reshape(y.shape)
    want = maxpool2d_backward(g, cache)
    # the rule spelled out: the top-left-most maximum of each window gets g
    for r in range(3):
        for c in range(3):
            for ch in range(2):
                win = x[0, 2 * r:2 * r + 2, 2 * c:2 * c + 2, ch]
                i, j = [(i, j) for i in range(2) for j in range(2) if win[i, j] == win.max()][0]
                assert want[0, 2 * r + i, 2 * c + j, ch] == g[0, r, c, ch]
    _, got = framework(x, g, 2, None, "valid")
    np.testing.assert_array_equal(got, want)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_matches_torch_after_moving_channels_last(dtype):
    """Canonical flatten is H, W, C; torch's NCHW flatten is C, H, W: the same numbers
    once the tensor is permuted to NHWC first (what the torch dense-kernel layout undoes)."""
    torch = load_torch()
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 4)).astype(dtype)
    y, cache = flatten_forward(x)
    nchw = torch.tensor(x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(nchw.permute(0, 2, 3, 1).flatten(1).numpy(), y)
    assert not np.array_equal(nchw.flatten(1).numpy(), y)
    np.testing.assert_array_equal(flatten_backward(y, cache), x)
