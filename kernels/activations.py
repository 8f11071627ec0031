"""Element-wise and row-wise activations, NumPy reference."""

from __future__ import annotations

import numpy as np


def relu_forward(x: np.ndarray):
    """``max(x, 0)``, NaN propagated (``relu(nan) = nan``, as torch, JAX and TensorFlow
    give; ``np.where(x > 0, x, 0)`` would hide it as 0).  Returns ``(y, cache)``."""
    return np.maximum(x, np.zeros((), x.dtype)), x > 0


def relu_backward(dy: np.ndarray, cache):
    """``dL/dx = dy · 1[x > 0]``.  The subgradient at exactly 0 is taken as 0, as torch,
    JAX (``jax.nn.relu``) and TensorFlow all do; at a NaN input it is 0 as well (NaN > 0
    is false there too), while a NaN ``dy`` passes through where x > 0."""
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


def tanh_forward(x: np.ndarray):
    """``tanh(x)`` (BERT's pooler activation, torch's ``nn.Tanh``).  Returns ``(y, cache)``;
    the cache is ``y`` itself, all the backward needs."""
    y = np.tanh(x)
    return y, y


def tanh_backward(dy: np.ndarray, cache):
    """``dL/dx = dy · (1 - tanh(x)²)``, from the forward's output ``y = tanh(x)``."""
    y = cache
    return dy * (np.ones((), y.dtype) - y * y)
