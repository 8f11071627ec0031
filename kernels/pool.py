"""Max-pooling over 2-D windows and the flatten before a dense layer, NumPy reference.

Images are NHWC (n, H, W, C).  Max-pool takes the maximum of every (kh, kw) window,
windows ``stride`` apart (default: the window size, so they tile the image); padding is
``"valid"`` (incomplete windows at the bottom/right are dropped: 13 -> 6 for a 2x2
pool) or ``"same"`` (``ceil(H / s)`` windows, padded with -inf as TensorFlow and XLA do).

Backward: the max is piecewise the identity of one element, so

    dL/dx[n, r, c, ch] = Σ over windows w whose argmax is (r, c): dL/dy[w]

and everything else gets 0.  When a window holds its maximum more than once (ties: after
a ReLU many windows are all zero) the whole gradient goes to ONE element, the first in
row-major order within the window.  torch (CPU, NCHW and channels-last), TensorFlow and
XLA (JAX/Flax) all choose that element; ``parity/test_conv_kernels.py`` checks each.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from kernels.conv import _pair, conv_padding


def maxpool2d_forward(x: np.ndarray, size=2, stride=None, padding="valid"):
    """``y[n, h, w, c] = max_{i<kh, j<kw} x[n, h·s_h + i, w·s_w + j, c]``.

    Returns ``(y, cache)``; ``y`` is (n, H_out, W_out, C).
    """
    if x.ndim != 4:
        raise ValueError(f"maxpool2d: x must be NHWC (n, H, W, C), got shape {x.shape}")
    kh, kw = _pair(size, "pool size")
    sh, sw = _pair(stride if stride is not None else (kh, kw), "stride")
    (top, bottom), (left, right) = conv_padding(padding, x.shape[1:3], (kh, kw), (sh, sw))
    pads = ((0, 0), (top, bottom), (left, right), (0, 0))
    xp = np.pad(x, pads, constant_values=-np.inf) if top + bottom + left + right else x
    n, hp, wp, c = xp.shape
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"maxpool2d: a {kh}x{kw} window does not fit a {hp}x{wp} image")
    # (n, H_out, W_out, C, kh*kw): each window flattened row-major
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :ho, :wo]
    win = win.reshape(n, ho, wo, c, kh * kw)
    arg = win.argmax(axis=-1)          # argmax returns the FIRST maximum: the tie rule
    y = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    cache = (arg, xp.shape, (kh, kw), (sh, sw), (top, left), x.shape)
    return np.ascontiguousarray(y), cache


def maxpool2d_backward(dy: np.ndarray, cache):
    """Route ``dy`` (n, H_out, W_out, C) to each window's first maximum; returns ``dx``."""
    arg, padded_shape, (kh, kw), (sh, sw), (top, left), x_shape = cache
    n, ho, wo, c = dy.shape
    rows = np.arange(ho)[None, :, None, None] * sh + arg // kw
    cols = np.arange(wo)[None, None, :, None] * sw + arg % kw
    nn = np.arange(n)[:, None, None, None]
    ch = np.arange(c)[None, None, None, :]
    dxp = np.zeros(padded_shape, dtype=dy.dtype)
    if sh >= kh and sw >= kw:        # windows do not overlap: every target is distinct
        dxp[nn, rows, cols, ch] = dy
    else:                            # overlapping windows may share a maximum: accumulate
        np.add.at(dxp, (nn, rows, cols, ch), dy)
    return np.ascontiguousarray(dxp[:, top:top + x_shape[1], left:left + x_shape[2], :])


def flatten_forward(x: np.ndarray):
    """(n, H, W, C) -> (n, H·W·C) in H, W, C order (C fastest), the canonical order of
    Keras's and Flax's flatten.  torch flattens NCHW in C, H, W order; the networks' torch
    files permute the features to NHWC before flattening, so the dense kernel that
    follows is a plain transpose (``models/tinyvgg/tinyvgg_torch.py``)."""
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dy: np.ndarray, cache):
    """A reshape moves no numbers: ``dx = dy`` reshaped back to (n, H, W, C)."""
    return dy.reshape(cache)
