"""Fully connected layer, NumPy reference.

Shapes: ``x`` (n, d_in), ``kernel`` (d_in, d_out), ``bias`` (d_out,), ``y`` (n, d_out).
"""

from __future__ import annotations

import numpy as np


def dense_forward(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None):
    """``y = x @ W + b``.  Returns ``(y, cache)``."""
    y = x @ kernel
    if bias is not None:
        y = y + bias
    return y, (x, kernel, bias is not None)


def dense_backward(dy: np.ndarray, cache, need_dx: bool = True):
    """Gradients of ``y = x W + b`` given ``dy = dL/dy`` of shape (n, d_out).

    ``dL/dx = dy Wᵀ`` (n, d_in);  ``dL/dW = xᵀ dy`` (d_in, d_out);
    ``dL/db = Σ_n dy`` (d_out,) — one bias gradient per unit (the classic notebook's
    scalar ``np.sum(dZ)`` is a bug this reference does not reproduce).

    Returns ``(dx, dkernel, dbias)``; ``dbias`` is None when the layer has no bias, ``dx``
    None with ``need_dx=False`` (an input that is data: for a scipy.sparse ``x`` of
    1.5M columns, ``dy Wᵀ`` would be a dense (n, 1.5M) array).
    """
    x, kernel, has_bias = cache
    dx = dy @ kernel.T if need_dx else None
    dkernel = x.T @ dy
    dbias = dy.sum(axis=0) if has_bias else None
    return dx, dkernel, dbias
