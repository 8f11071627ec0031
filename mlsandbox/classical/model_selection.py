"""Stratified K-fold splitting identical to scikit-learn's, and cross-validation of our
estimator: sequential (any backend, a scikit-learn ``Pipeline``) or all folds at once
(JAX, ``jax.vmap``)."""

from __future__ import annotations

import warnings

import numpy as np


def _congruent(lo: int, hi: int, i: int, s: int) -> int:
    """How many integers j in [lo, hi) have j ≡ i (mod s)."""
    return (hi - i + s - 1) // s - (lo - i + s - 1) // s


def stratified_kfold(y, n_splits: int = 5, *, shuffle: bool = False, random_state=None):
    """The ``(train, test)`` index pairs of
    ``sklearn.model_selection.StratifiedKFold(n_splits, shuffle, random_state)``.

    The same algorithm, so the same seed gives the same folds: classes are numbered by
    first appearance in ``y``; dealing the sorted labels round-robin into ``n_splits``
    folds fixes how many of each class every test fold holds; each class's fold numbers
    are laid out in blocks in data order, and shuffled (one
    ``np.random.RandomState(random_state).shuffle`` per class, in class order) when
    ``shuffle``.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must have shape (n,), got {y.shape}")
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if not shuffle and random_state is not None:
        raise ValueError("random_state only has an effect with shuffle=True; leave it None")
    _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    order_of_appearance = np.argsort(np.argsort(first))
    codes = order_of_appearance[inverse]
    counts = np.bincount(codes)
    if np.all(counts < n_splits):
        raise ValueError(f"n_splits={n_splits} cannot be greater than the number of "
                         f"members in each class (counts {counts.tolist()})")
    if counts.min() < n_splits:
        warnings.warn(f"The least populated class in y has only {counts.min()} members, "
                      f"which is less than n_splits={n_splits}.", UserWarning, stacklevel=2)
    rng = np.random.RandomState(random_state) if shuffle else None
    test_fold = np.empty(len(y), dtype=np.int64)
    start = 0
    for k, c in enumerate(counts):
        per_fold = [_congruent(start, start + c, i, n_splits) for i in range(n_splits)]
        folds = np.repeat(np.arange(n_splits), per_fold)
        if rng is not None:
            rng.shuffle(folds)
        test_fold[codes == k] = folds
        start += c
    idx = np.arange(len(y))
    return [(idx[test_fold != i], idx[test_fold == i]) for i in range(n_splits)]


def fold_masks(n: int, splits) -> np.ndarray:
    """(n_folds, n) float 0/1 masks of each fold's training rows."""
    masks = np.zeros((len(splits), n))
    for i, (train, _) in enumerate(splits):
        masks[i, train] = 1.0
    return masks


def batched_scaled_fits(X, y, splits, C=1.0, *, tol=1e-8, max_iter=100):
    """Standardize on each fold's training rows and fit, every fold in one vmapped JAX call.

    The scaling is ``StandardScaler``'s (mean and population standard deviation of the
    training rows; a zero deviation counts as 1), computed per fold inside the batch.
    ``C`` may be a scalar or one value per fold.  Returns a list of
    ``(mean, scale, coef, intercept, n_iter)`` per fold (coef in the scaled space).
    """
    from mlsandbox.classical.solvers import jax_newton

    X = np.asarray(X, dtype=np.float64)
    classes, codes = np.unique(y, return_inverse=True)
    n_out = 1 if len(classes) == 2 else len(classes)
    masks = fold_masks(len(X), splits)
    counts = masks.sum(1, keepdims=True)
    mean = masks @ X / counts
    var = np.einsum("bn,bnd->bd", masks, (X[None] - mean[:, None]) ** 2) / counts
    scale = np.where(var > 0, np.sqrt(var), 1.0)
    Xs = (X[None] - mean[:, None]) / scale[:, None]
    coef, intercept, n_iter, ok = jax_newton.fit_batched(Xs, codes, masks, C, n_out,
                                                        tol=tol, max_iter=max_iter)
    if not ok.all():
        warnings.warn(f"folds {np.flatnonzero(~ok).tolist()} did not converge", stacklevel=2)
    return [(mean[i], scale[i], coef[i], intercept[i], int(n_iter[i]))
            for i in range(len(splits))]
