"""2-D convolution (cross-correlation, as every framework computes it), NumPy reference.

Layouts are the canonical ones: images NHWC ``x`` (n, H, W, C_in), kernels HWIO ``w``
(kh, kw, C_in, C_out), bias (C_out,), output (n, H_out, W_out, C_out).

Padding, per spatial axis, as a pair (before, after) of zeros:

* ``"valid"``: (0, 0); ``H_out = (H - kh) // s + 1``.
* ``"same"``: ``H_out = ceil(H / s)``; the total padding ``max((H_out - 1)·s + kh - H, 0)``
  is split with the smaller half *before* and the extra pixel *after* (bottom/right).  This
  is TensorFlow's, Keras's and XLA/Flax's rule; torch accepts ``padding="same"`` only for
  stride 1 (where it splits the same way), so for stride 2 torch users pad explicitly with
  ``F.pad(x, (left, right, top, bottom))``; :func:`conv_padding` gives those numbers.
* an int ``p`` (p, p) on both axes, a pair ``(ph, pw)``, or explicit pairs
  ``((top, bottom), (left, right))``.

The forward pass is an im2col product: every output pixel's receptive field is one row of
``cols`` (n·H_out·W_out, kh·kw·C_in), and ``y = cols @ W + b`` with ``W`` the kernel
reshaped to (kh·kw·C_in, C_out).  The backward pass is then a dense layer's backward,
followed by col2im:

    dL/dW   = colsᵀ · dY                      (kh·kw·C_in, C_out) -> HWIO
    dL/db   = Σ_{n,h,w} dY                    (C_out,)
    dL/dcols = dY · Wᵀ                        one row per receptive field
    dL/dx[n, h·s + i - top, w·s + j - left, c] += dL/dcols[n, h, w, i, j, c]

i.e. each input pixel collects the gradient of every output pixel whose window covers
it; the last line is a loop over the kh·kw kernel offsets, each a strided add.  Gradients
that land on padding are dropped (the padding is a constant).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        v = (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) != 2 or min(v) < 1:
        raise ValueError(f"{what} must be a positive int or a pair of them, got {v!r}")
    return v


def conv_padding(padding, in_size: tuple[int, int], kernel: tuple[int, int],
                 stride: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Explicit ``((top, bottom), (left, right))`` zero padding for ``padding``.

    ``"same"`` follows TensorFlow/XLA: ``out = ceil(size / stride)``, total
    ``max((out - 1)·stride + k - size, 0)``, ``before = total // 2``, ``after = total - before``.
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            out = []
            for size, k, s in zip(in_size, kernel, stride):
                total = max((-(-size // s) - 1) * s + k - size, 0)
                out.append((total // 2, total - total // 2))
            return tuple(out)
        raise ValueError(f"padding must be 'valid', 'same', an int or pairs, got {padding!r}")
    if isinstance(padding, (int, np.integer)):
        padding = (padding, padding)
    pads = []
    for p in padding:
        p = (int(p), int(p)) if isinstance(p, (int, np.integer)) else tuple(int(a) for a in p)
        if len(p) != 2 or min(p) < 0:
            raise ValueError(f"explicit padding must be non-negative (before, after) pairs, "
                             f"got {padding!r}")
        pads.append(p)
    if len(pads) != 2:
        raise ValueError(f"padding needs one entry per spatial axis (2), got {padding!r}")
    return tuple(pads)


def conv2d_output_size(in_size, kernel, stride=1, padding="valid") -> tuple[int, int]:
    """``(H_out, W_out)`` of a convolution (also used by max-pool)."""
    kernel, stride = _pair(kernel, "kernel size"), _pair(stride, "stride")
    pads = conv_padding(padding, tuple(in_size), kernel, stride)
    return tuple((n + lo + hi - k) // s + 1
                 for n, (lo, hi), k, s in zip(in_size, pads, kernel, stride))


def _check(x, w, b):
    if x.ndim != 4:
        raise ValueError(f"conv2d: x must be NHWC (n, H, W, C_in), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"conv2d: kernel must be HWIO (kh, kw, C_in, C_out), got {w.shape}")
    if w.shape[2] != x.shape[3]:
        raise ValueError(f"conv2d: x has {x.shape[3]} channels but the HWIO kernel "
                         f"{w.shape} expects {w.shape[2]}")
    if b is not None and b.shape != (w.shape[3],):
        raise ValueError(f"conv2d: bias must have shape ({w.shape[3]},), got {b.shape}")


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                   stride=1, padding="valid"):
    """``y[n, h, w, o] = b[o] + Σ_{i,j,c} xpad[n, h·s_h + i, w·s_w + j, c] · w[i, j, c, o]``.

    Returns ``(y, cache)``; ``y`` is (n, H_out, W_out, C_out).
    """
    _check(x, w, b)
    kh, kw, cin, cout = w.shape
    sh, sw = _pair(stride, "stride")
    (top, bottom), (left, right) = conv_padding(padding, x.shape[1:3], (kh, kw), (sh, sw))
    pads = ((0, 0), (top, bottom), (left, right), (0, 0))
    xp = np.pad(x, pads) if top + bottom + left + right else x
    n, hp, wp, _ = xp.shape
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"conv2d: a {kh}x{kw} kernel does not fit a padded {hp}x{wp} image")
    # (n, H', W', C_in, kh, kw) windows -> strided -> (n, H_out, W_out, kh, kw, C_in)
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :ho, :wo]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, kh * kw * cin)
    y = cols @ w.reshape(kh * kw * cin, cout)
    if b is not None:
        y = y + b
    cache = (cols, w, b is not None, xp.shape, (top, left), (sh, sw), x.shape)
    return y.reshape(n, ho, wo, cout), cache


def conv2d_backward(dy: np.ndarray, cache):
    """Gradients of :func:`conv2d_forward` given ``dy = dL/dy`` (n, H_out, W_out, C_out).

    Returns ``(dx, dw, db)`` with the shapes of ``x``, ``w`` and ``b`` (``db`` is None
    without a bias).  See the module docstring for the derivation.
    """
    cols, w, has_bias, padded_shape, (top, left), (sh, sw), x_shape = cache
    kh, kw, cin, cout = w.shape
    n, ho, wo, _ = dy.shape
    dy2 = dy.reshape(n * ho * wo, cout)
    dw = (cols.T @ dy2).reshape(w.shape)
    db = dy2.sum(axis=0) if has_bias else None
    dcols = (dy2 @ w.reshape(kh * kw * cin, cout).T).reshape(n, ho, wo, kh, kw, cin)
    dxp = np.zeros(padded_shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i, i + sh * (ho - 1) + 1, sh)
            cols_ = slice(j, j + sw * (wo - 1) + 1, sw)
            dxp[:, rows, cols_, :] += dcols[:, :, :, i, j]
    dx = dxp[:, top:top + x_shape[1], left:left + x_shape[2], :]
    return np.ascontiguousarray(dx), dw, db
