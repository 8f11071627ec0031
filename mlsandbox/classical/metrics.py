"""Classification metrics, NumPy, computed the way scikit-learn computes them (each is
checked against its scikit-learn twin in ``tests/test_classical_metrics.py``).

Scores are "higher means more positive"; ``y_true`` binary metrics take labels in {0, 1}
(or booleans).  Shapes: ``y_true``, ``y_score``, ``y_pred`` (n,).
"""

from __future__ import annotations

import numpy as np


def _binary(y_true, y_score):
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 1 or y_score.shape != y_true.shape:
        raise ValueError(f"y_true and y_score must both have shape (n,), got {y_true.shape} "
                         f"and {y_score.shape}")
    if not np.all(np.isfinite(y_score)):
        raise ValueError("y_score contains NaN or infinity")
    labels = np.unique(y_true)
    if not np.all(np.isin(labels, [0, 1])):
        raise ValueError(f"binary metrics need y_true in {{0, 1}}, got labels {labels[:5]}")
    return (y_true == 1), y_score


def _cumulative_counts(y_true, y_score):
    """Scores sorted descending; at each distinct score t, the true and false positives of
    the rule ``score >= t``.  Returns ``(fps, tps, thresholds)``, thresholds descending."""
    pos, s = _binary(y_true, y_score)
    order = np.argsort(s, kind="mergesort")[::-1]
    s, pos = s[order], pos[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # ties counted together
    tps = np.cumsum(pos)[last_of_tie].astype(np.float64)
    fps = 1 + last_of_tie - tps
    return fps, tps, s[last_of_tie]


def roc_curve(y_true, y_score, drop_intermediate: bool = True):
    """``(fpr, tpr, thresholds)`` as :func:`sklearn.metrics.roc_curve`.

    One point per distinct score (tied scores move the curve diagonally, together),
    preceded by (0, 0) at threshold +inf.  ``drop_intermediate`` removes points that lie on
    a straight line between their neighbours (the area is unchanged).
    """
    fps, tps, thr = _cumulative_counts(y_true, y_score)
    if drop_intermediate and fps.size > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    fps, tps, thr = np.r_[0, fps], np.r_[0, tps], np.r_[np.inf, thr]
    if fps[-1] == 0 or tps[-1] == 0:
        raise ValueError("ROC needs both classes in y_true (one is absent)")
    return fps / fps[-1], tps / tps[-1], thr


def auc(x, y) -> float:
    """Trapezoidal area under the curve through points ``(x, y)``, x monotonic."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    d = np.diff(x)
    if np.any(d < 0) and np.any(d > 0):
        raise ValueError("x must be monotonic (increasing or decreasing)")
    area = float(np.sum(d * (y[1:] + y[:-1]) / 2))
    return -area if np.all(d <= 0) and np.any(d < 0) else area


def roc_auc_score(y_true, y_score) -> float:
    """Area under :func:`roc_curve` (ties count one half, as in the Mann–Whitney U)."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    return auc(fpr, tpr)


def confusion_matrix(y_true, y_pred, labels=None) -> np.ndarray:
    """``C[i, j]`` = number of samples of true class ``labels[i]`` predicted as
    ``labels[j]``; ``labels`` defaults to the sorted union of both.  (k, k) int64."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must both have shape (n,), got {y_true.shape} "
                         f"and {y_pred.shape}")
    labels = np.unique(np.r_[y_true, y_pred]) if labels is None else np.asarray(labels)
    index = {v: i for i, v in enumerate(labels.tolist())}
    k = len(labels)
    keep = np.array([a in index and b in index for a, b in zip(y_true.tolist(),
                                                                y_pred.tolist())], bool)
    i = np.array([index[v] for v in y_true[keep].tolist()], dtype=np.int64)
    j = np.array([index[v] for v in y_pred[keep].tolist()], dtype=np.int64)
    return np.bincount(i * k + j, minlength=k * k).reshape(k, k).astype(np.int64)


def _ratio(num, den):
    """num / den with 0 where den is 0 (scikit-learn's zero_division=0)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def precision_recall_f1(y_true, y_pred, *, average: str = "binary", pos_label=1):
    """``(precision, recall, f1)``.

    ``average="binary"``: of class ``pos_label``; ``"macro"``: unweighted mean over the
    classes of ``y_true ∪ y_pred``; ``None``: one value per class (arrays).  A ratio with a
    zero denominator is 0, scikit-learn's ``zero_division=0``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if average == "binary":
        labels = np.array([pos_label])
    elif average in ("macro", None):
        labels = np.unique(np.r_[y_true, y_pred])
    else:
        raise ValueError(f"average must be 'binary', 'macro' or None, got {average!r}")
    tp = np.array([np.sum((y_true == c) & (y_pred == c)) for c in labels])
    n_pred = np.array([np.sum(y_pred == c) for c in labels])
    n_true = np.array([np.sum(y_true == c) for c in labels])
    p, r = _ratio(tp, n_pred), _ratio(tp, n_true)
    f1 = _ratio(2 * tp, n_pred + n_true)       # = 2PR/(P+R), also when P or R is 0
    if average == "binary":
        return float(p[0]), float(r[0]), float(f1[0])
    if average == "macro":
        return float(p.mean()), float(r.mean()), float(f1.mean())
    return p, r, f1


def f1_optimal_threshold(y_true, y_score):
    """``(threshold, f1)``: the score threshold t maximizing F1 of ``score >= t``.

    Every distinct score is a candidate (only those change the predictions); with
    ``tp, fp`` counted at t, ``F1 = 2tp / (2tp + fp + fn) = 2tp / (tp + fp + n_pos)``.
    Among equal F1 the highest threshold wins (fewest positives predicted).
    """
    fps, tps, thr = _cumulative_counts(y_true, y_score)
    n_pos = tps[-1]
    if n_pos == 0:
        raise ValueError("F1 needs at least one positive in y_true")
    f1 = 2 * tps / (tps + fps + n_pos)
    best = int(np.argmax(f1))                   # first maximum = highest threshold
    return float(thr[best]), float(f1[best])
