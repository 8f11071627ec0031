"""2x2 max pooling, stride 2, 'valid': XLA's forward with a hand-written backward.

Same numbers as :func:`kernels.pool.maxpool2d_forward` / ``maxpool2d_backward`` with
``size=2`` (see their derivation), including the tie rule: the whole gradient of a window
goes to its FIRST maximum in row-major order, as torch, TensorFlow and XLA's
``reduce_window`` do.  (``jnp.max``'s own gradient would split it between tied elements,
and after a ReLU whole windows tie at 0.)

Why it is faster than ``nnx.max_pool``
--------------------------------------
``nnx.max_pool`` is ``lax.reduce_window``; its forward is fine, but its gradient is XLA's
``select_and_scatter``, which XLA:CPU runs as a scalar loop per window and cannot fuse
with the ReLU around it.  Here the forward stays ``reduce_window`` and the backward is
a reshape (free: NHWC with 2x2 windows is (n, H/2, 2, W/2, 2, C)), four comparisons with
the pooled maximum and a ``select``: elementwise work that XLA fuses with its neighbours.
Measured (pool after a ReLU, gradient of a sum of squares, tuned allocator, 2 loaded
cores, interleaved medians): MNIST CNN's first pool (128 x 26x26x32) 172 ms -> 20 ms,
TinyVGG's first pool (32 x 60x60x10) 77 ms -> 11 ms.  Writing the forward as reshape +
max as well (issue 6's prototype) was slower in the forward (16 vs 4-6 ms) and in the
gradient (31 vs 20 ms).

:func:`max_pool_2x2_onednn` (``impl="onednn"``) is the same pooling as oneDNN calls,
forward and backward, for the networks whose convolutions already run in oneDNN.

Shapes: ``x`` (n, H, W, C) NHWC; returns (n, H // 2, W // 2, C).  An odd last row or
column is dropped, as 'valid' pooling does (13 -> 6), and gets zero gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def _windows(x):
    """(n, H, W, C) -> (n, H//2, 2, W//2, 2, C), the odd last row/column cut off."""
    n, hh, ww, c = x.shape
    h, w = hh // 2, ww // 2
    if h < 1 or w < 1:
        raise ValueError(f"max_pool_2x2: a 2x2 window does not fit a {hh}x{ww} image")
    return x[:, :2 * h, :2 * w].reshape(n, h, 2, w, 2, c)


@jax.custom_vjp
def max_pool_2x2(x):
    """``y[n, i, j, c] = max(x[n, 2i:2i+2, 2j:2j+2, c])``; shapes in the module docstring."""
    _windows(x)  # checks the shape
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def _fwd(x):
    y = max_pool_2x2(x)
    return y, (x, y)


def _bwd(res, dy):
    x, y = res
    win = _windows(x)
    eq = win == y[:, :, None, :, None, :]
    first = eq[:, :, 0, :, 0]                       # window order: (0,0) (0,1) (1,0) (1,1)
    taken = first
    picks = [first]
    for i, j in ((0, 1), (1, 0), (1, 1)):
        e = eq[:, :, i, :, j] & ~taken
        picks.append(e)
        taken = taken | e
    sel = jnp.stack([jnp.stack(picks[:2], axis=3), jnp.stack(picks[2:], axis=3)], axis=2)
    zero = jnp.zeros((), dy.dtype)
    dwin = jnp.where(sel, dy[:, :, None, :, None, :], zero)   # (n, h, 2, w, 2, c)
    n, h, _, w, _, c = dwin.shape
    dx = dwin.reshape(n, 2 * h, 2 * w, c)
    pad = ((0, 0), (0, x.shape[1] - 2 * h), (0, x.shape[2] - 2 * w), (0, 0))
    return (jnp.pad(dx, pad),)


max_pool_2x2.defvjp(_fwd, _bwd)


# -- the same pooling through oneDNN (impl="onednn") -------------------------------------
def _onednn_pool(x):
    from kernels.accel import native

    native.load("onednn")
    n, hh, ww, c = x.shape
    out = jax.ShapeDtypeStruct((n, hh // 2, ww // 2, c), x.dtype)
    ws = jax.ShapeDtypeStruct(out.shape, jnp.uint8)
    return jax.ffi.ffi_call("mlsandbox_pool_fwd", (out, ws), vmap_method="sequential")(x)


def max_pool_2x2_onednn(x):
    """:func:`max_pool_2x2` as one oneDNN call each way (float32; any other dtype is
    :func:`max_pool_2x2`).  The forward records where each window's maximum is (oneDNN's
    workspace, one byte per output: the first maximum, the reference's tie rule) and the
    backward scatters ``dy`` there.  Why: after the convolutions moved to oneDNN
    (:mod:`kernels.accel.conv`), the two XLA pools were a third of TinyVGG's Adam step
    (5.0 of 16.8 ms, measured by swapping them for strided slices)."""
    if x.dtype != jnp.float32 or x.ndim != 4:
        return max_pool_2x2(x)
    _windows(x)  # checks the shape
    return _pool_onednn(x)


@jax.custom_vjp
def _pool_onednn(x):
    return _onednn_pool(x)[0]


def _onednn_fwd(x):
    y, ws = _onednn_pool(x)
    return y, (x, ws)


def _onednn_bwd(res, dy):
    x, ws = res
    out = jax.ShapeDtypeStruct(x.shape, x.dtype)
    return (jax.ffi.ffi_call("mlsandbox_pool_bwd", out, vmap_method="sequential")(dy, ws),)


_pool_onednn.defvjp(_onednn_fwd, _onednn_bwd)
