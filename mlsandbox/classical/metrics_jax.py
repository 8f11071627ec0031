"""Binary metrics in JAX with row masks, so ``jax.vmap`` evaluates every fold at once
(the companion of :func:`mlsandbox.classical.model_selection.batched_scaled_fits`).

Shapes: ``y`` (n,) 0/1, ``score`` (n,), ``mask`` (n,) 0/1 selecting the rows that count
(a fold's test rows).  Each is checked against scikit-learn in
``tests/test_classical_metrics.py``.
"""

from __future__ import annotations

from models.frameworks import load_jax

jax, jnp = load_jax()


@jax.jit
def roc_auc(y, score, mask):
    """Area under the ROC curve as the Mann–Whitney statistic: the fraction of
    (positive, negative) pairs ordered correctly, ties counting one half — the area
    scikit-learn's trapezoids give.  Pairwise, O(n²) memory: meant for folds of up to a
    few thousand rows."""
    pos = mask * (y == 1)
    neg = mask * (y == 0)
    diff = score[:, None] - score[None, :]                       # (n, n): pos row, neg col
    wins = jnp.where(diff > 0, 1.0, jnp.where(diff == 0, 0.5, 0.0))
    return (pos @ wins @ neg) / (jnp.sum(pos) * jnp.sum(neg))


@jax.jit
def confusion_matrix(y, pred, mask):
    """[[TN, FP], [FN, TP]] over the masked rows (labels 0, 1), as float counts."""
    t = jnp.stack([(y == 0) * mask, (y == 1) * mask])            # (2, n)
    p = jnp.stack([pred == 0, pred == 1]).astype(t.dtype)        # (2, n)
    return t @ p.T


@jax.jit
def accuracy(y, pred, mask):
    return jnp.sum(mask * (y == pred)) / jnp.sum(mask)
