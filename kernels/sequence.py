"""Pooling over the time axis of a sequence, NumPy reference.

Shapes: ``x`` (n, T, d), ``mask`` (n, T) with 1 = a real token, 0 = padding, ``y`` (n, d).

Masked global average pooling, the mean over the real tokens only::

    c[n]    = Σ_t m[n, t]                        (the number of real tokens)
    y[n, :] = Σ_t m[n, t] x[n, t, :] / c[n]

Backward (``y`` is linear in ``x``; the mask is a constant and gets no gradient)::

    dx[n, t, :] = dy[n, :] · m[n, t] / c[n]

A row whose mask is all zero (a sequence with no real token) has no mean.  Here it pools
to ``y = 0`` with ``dx = 0``: the count is replaced by 1 where it is 0, so the quotient is
``0 / 1`` and never NaN.  Keras's ``GlobalAveragePooling1D`` given a mask divides by the
raw count and returns NaN (0/0) for that row; a hand-written torch or JAX masked mean does
the same unless it guards the count (``tests/test_kernels_text.py`` shows Keras's NaN).

Without a mask (``mask=None``) the mean runs over all T positions, padding included:
``y = (1/T) Σ_t x[n, t]`` and ``dx = dy / T``.  That is also what Keras's
``GlobalAveragePooling1D`` computes when no mask reaches it (e.g. an ``Embedding``
without ``mask_zero=True`` in front).
"""

from __future__ import annotations

import numpy as np


def _check_mask(mask, x: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != x.shape[:2]:
        raise ValueError(f"masked mean pool: mask must have shape (n, T) = {x.shape[:2]}, "
                         f"got {mask.shape}")
    if mask.size and not np.all((mask == 0) | (mask == 1)):
        raise ValueError("masked mean pool: mask must hold 0 (padding) or 1 (token), got "
                         f"values {np.unique(mask)[:5]}")
    return mask.astype(x.dtype)


def masked_mean_pool_forward(x: np.ndarray, mask: np.ndarray | None = None):
    """``y[n] = Σ_t m[n, t] x[n, t] / Σ_t m[n, t]`` (n, d); the plain mean over T when
    ``mask`` is None; 0 for a row whose mask is all zero.

    Returns ``(y, cache)``.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"masked mean pool: x must have shape (n, T, d), got {x.shape}")
    if mask is None:
        return x.mean(axis=1), (x.shape, None)
    m = _check_mask(mask, x)
    count = m.sum(axis=1, keepdims=True)                       # (n, 1)
    count = np.where(count > 0, count, np.ones((), x.dtype))   # all-padding row: 0 / 1
    w = m / count                                              # (n, T): the weights
    y = np.einsum("nt,ntd->nd", w, x)
    return y, (x.shape, w)


def masked_mean_pool_backward(dy: np.ndarray, cache):
    """``dx[n, t] = dy[n] · m[n, t] / c[n]`` (n, T, d); ``dy / T`` everywhere without a mask."""
    shape, w = cache
    n, T, d = shape
    if dy.shape != (n, d):
        raise ValueError(f"masked mean pool: dy must have shape {(n, d)}, got {dy.shape}")
    if w is None:
        return np.broadcast_to(dy[:, None, :] / np.asarray(T, dy.dtype), shape).copy()
    return w.astype(dy.dtype)[:, :, None] * dy[:, None, :]
