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


def softmax_cross_entropy_ignore_forward(logits: np.ndarray, labels: np.ndarray, *,
                                         ignore_index: int = -100):
    """Mean softmax cross-entropy over the positions whose label is not ``ignore_index``.

    ``logits`` (..., V) (BERT's masked LM: (n, T, V)), ``labels`` (...) integer ids in
    ``[0, V)`` or ``ignore_index`` (-100, the value Hugging Face puts at every token that is
    not predicted).  With ``v_p = 1[y_p ≠ ignore_index]`` and ``N = Σ_p v_p``::

        ℓ_p = logsumexp(z_p) - z_p[y_p]          (row maximum subtracted: finite at 1e4)
        L   = Σ_p v_p ℓ_p / N

    as torch's ``F.cross_entropy(..., ignore_index=-100)`` (mean reduction) and
    ``BertForMaskedLM`` compute it.  When every position is ignored (``N = 0``) this
    returns ``L = 0`` with a zero gradient (the denominator is ``max(N, 1)``).  torch
    returns the same zero gradient but a NaN loss (0/0): the sum of no terms is 0, and a
    reported NaN would poison every running mean of the loss for a batch that simply had
    nothing to predict.  Returns ``(loss, cache)``; ``loss`` is a 0-d array of the logits'
    dtype.

    Raises ValueError naming the first label that is neither ``ignore_index`` nor in
    ``[0, V)``.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim < 1 or labels.shape != logits.shape[:-1]:
        raise ValueError(f"labels must have the logits' shape without its last axis, got "
                         f"logits {logits.shape} and labels {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids, got dtype {labels.dtype}")
    k = logits.shape[-1]
    z = logits.reshape(-1, k)
    y = labels.reshape(-1)
    valid = y != ignore_index
    bad = valid & ((y < 0) | (y >= k))
    if bad.any():
        raise ValueError(f"label {y[bad][0]} is outside [0, {k}) and is not the ignore_index "
                         f"{ignore_index}")
    rows = np.flatnonzero(valid)
    count = max(rows.size, 1)
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    per = np.log(s[rows, 0]) - shifted[rows, y[rows]]           # ℓ_p of the valid rows
    loss = per.sum() / count
    return np.asarray(loss, dtype=logits.dtype), (e / s, rows, y[rows], count, logits.shape)


def softmax_cross_entropy_ignore_backward(dloss, cache):
    """``dL/dz_p = dloss · v_p (softmax(z_p) - onehot(y_p)) / max(N, 1)`` (..., V): zero
    rows at ignored positions (and everywhere when all are ignored)."""
    p, rows, y, count, shape = cache
    g = np.zeros_like(p)
    g[rows] = p[rows]
    g[rows, y] -= 1
    return ((np.asarray(dloss, p.dtype) / count) * g).reshape(shape)
