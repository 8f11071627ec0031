"""Losses, NumPy reference."""

from __future__ import annotations

import numpy as np


def one_hot(y: np.ndarray, n_classes: int, dtype=np.float64) -> np.ndarray:
    """Integer labels (n,) to a one-hot matrix (n, n_classes).

    Raises ValueError naming the offending label when one is outside ``[0, n_classes)``.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must have shape (n,), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ValueError(f"label {bad} is outside [0, {n_classes})")
    out = np.zeros((y.shape[0], n_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def softmax_cross_entropy_forward(logits: np.ndarray, y: np.ndarray):
    """Mean softmax cross-entropy of ``logits`` (n, k) against integer labels ``y`` (n,).

    ``L = -(1/n) Σ_n log softmax(z_n)[y_n]`` computed as
    ``logsumexp(z_n) - z_n[y_n]`` with the row maximum subtracted, so logits of 1e4 give
    a finite loss and gradient.  Returns ``(loss, cache)`` with ``loss`` a 0-d array of
    the logits' dtype.
    """
    n, k = logits.shape
    t = one_hot(y, k, logits.dtype)
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    log_p = shifted - np.log(s)
    loss = -(t * log_p).sum() / n
    return np.asarray(loss, dtype=logits.dtype), (e / s, t)


def softmax_cross_entropy_backward(dloss, cache):
    """``dL/dz = dloss · (softmax(z) - onehot(y)) / n``: the softmax Jacobian and the
    log's derivative cancel, which is why the pair is one kernel."""
    p, t = cache
    n = p.shape[0]
    return (np.asarray(dloss, p.dtype) / n) * (p - t)
