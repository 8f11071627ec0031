"""Element-wise and row-wise activations, NumPy reference."""

from __future__ import annotations

import numpy as np


def relu_forward(x: np.ndarray):
    """``max(x, 0)``.  Returns ``(y, cache)``."""
    mask = x > 0
    return np.where(mask, x, np.zeros((), x.dtype)), mask


def relu_backward(dy: np.ndarray, cache):
    """``dL/dx = dy · 1[x > 0]``.  The subgradient at exactly 0 is taken as 0, as torch,
    JAX (``jax.nn.relu``) and TensorFlow all do."""
    mask = cache
    return np.where(mask, dy, np.zeros((), dy.dtype))


def softmax_forward(z: np.ndarray, axis: int = -1):
    """Row-wise softmax with the maximum subtracted first (``exp`` never overflows).

    Returns ``(p, cache)``.
    """
    z_max = np.max(z, axis=axis, keepdims=True)
    e = np.exp(z - z_max)
    p = e / e.sum(axis=axis, keepdims=True)
    return p, (p, axis)


def softmax_backward(dp: np.ndarray, cache):
    """``dL/dz_i = p_i (dp_i - Σ_j dp_j p_j)`` (the Jacobian ``diag(p) - p pᵀ`` applied to
    ``dp`` without forming it)."""
    p, axis = cache
    return p * (dp - np.sum(dp * p, axis=axis, keepdims=True))
