"""The reusable steps of the classical track's train → evaluate → compare workflow.

The logreg study (:mod:`mlsandbox.studies.logreg`, ``mlsandbox study logreg``) and the
benchmarks (``bench/bench_logreg.py``) are built from these:

* :func:`make_pipeline`: ``Pipeline(StandardScaler(), estimator)``, the estimator being
  ours in any backend or scikit-learn's reference fitted to the same optimum;
* :func:`evaluate_fold`: the metrics of one fold from its probabilities;
* :func:`cross_validate` (one backend, fold after fold) and
  :func:`batched_cross_validate` (every fold in one vmapped JAX call): per-fold metrics;
* :func:`summary` (mean and std over folds) and :func:`max_gap` (largest per-fold
  difference to the reference, every scalar metric included);
* :func:`grid_search`: scikit-learn's ``GridSearchCV`` over C and the backend.

Metrics are ours (:mod:`mlsandbox.classical.metrics`); each is checked against
scikit-learn's in the tests.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Sequence

import numpy as np

from mlsandbox.classical import metrics as M
from mlsandbox.classical.estimator import LogisticRegression
from mlsandbox.classical.model_selection import batched_scaled_fits

#: the name of scikit-learn's own estimator, the reference every backend is compared with
REFERENCE = "sklearn"
#: the solver of the reference: it stops at the optimum our Newton solvers stop at
REFERENCE_SOLVER = "newton-cholesky"
#: the scalar metrics of :func:`evaluate_fold` (what :func:`max_gap` compares)
FOLD_SCALARS = ("accuracy", "roc_auc", "precision", "recall", "f1", "f1_threshold",
                "f1_at_threshold", "train_f1_at_threshold")


def make_pipeline(C: float, backend: str, tol: float = 1e-8):
    """``Pipeline([("scale", StandardScaler()), ("logreg", estimator)])``.

    ``backend`` "numpy", "jax", "torch" or "keras": our
    :class:`~mlsandbox.classical.estimator.LogisticRegression` (Newton, stops when every
    coefficient's step is below ``tol``).  ``backend`` "sklearn" (:data:`REFERENCE`):
    scikit-learn's ``LogisticRegression(solver="newton-cholesky", tol=tol)``, which
    reaches the same optimum (probabilities within ~1e-10 of ours on breast cancer).
    scikit-learn's defaults (lbfgs, tol 1e-4) stop up to ~4e-3 away from it in the
    training probabilities, enough to move the F1-optimal threshold to another training
    sample (the logreg study measures this every run).
    """
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    est = (SkLogisticRegression(C=C, solver=REFERENCE_SOLVER, tol=tol)
           if backend == REFERENCE else LogisticRegression(C=C, backend=backend, tol=tol))
    return Pipeline([("scale", StandardScaler()), ("logreg", est)])


def evaluate_fold(y_test, p_test, y_train, p_train) -> dict:
    """Metrics of one fold from the positive-class probabilities ``p_test`` (n_test,) and
    ``p_train`` (n_train,).

    At threshold 0.5: accuracy, precision, recall, F1, the confusion matrix (rows: true
    0, 1); ROC AUC from the scores.  ``f1_threshold``: the F1-optimal threshold chosen on
    the training fold (:func:`~mlsandbox.classical.metrics.f1_optimal_threshold`: every
    distinct training probability is a candidate, the highest among equal F1 wins), with
    ``train_f1_at_threshold`` the training F1 it reaches and ``f1_at_threshold`` the test
    fold's F1 when it is applied there.
    """
    pred = (p_test >= 0.5).astype(int)
    precision, recall, f1 = M.precision_recall_f1(y_test, pred)
    threshold, train_f1 = M.f1_optimal_threshold(y_train, p_train)
    tuned = M.precision_recall_f1(y_test, (p_test >= threshold).astype(int))[2]
    return {"accuracy": float(np.mean(pred == y_test)), "roc_auc": M.roc_auc_score(y_test, p_test),
            "precision": precision, "recall": recall, "f1": f1,
            "f1_threshold": threshold, "f1_at_threshold": tuned,
            "train_f1_at_threshold": train_f1,
            "confusion_matrix": M.confusion_matrix(y_test, pred, labels=[0, 1]).tolist()}


@dataclasses.dataclass
class CrossValidation:
    """One estimator's cross-validation: per fold, the :func:`evaluate_fold` metrics,
    the positive-class probabilities of the test and training rows, and the fit time in
    seconds (one entry for all folds when they were fitted in one call)."""

    folds: list[dict]
    test_probs: list[np.ndarray]
    train_probs: list[np.ndarray]
    seconds: list[float]


def cross_validate(X, y, splits, C: float, backend: str, tol: float = 1e-8,
                   on_fit: Callable[[], object] | None = None) -> CrossValidation:
    """Fit :func:`make_pipeline` ``(C, backend, tol)`` on each ``(train, test)`` of
    ``splits`` in turn and evaluate it (:func:`evaluate_fold`); ``on_fit()`` is called
    after every fit (a progress bar's tick)."""
    cv = CrossValidation([], [], [], [])
    for train, test in splits:
        pipe = make_pipeline(C, backend, tol)
        t0 = time.perf_counter()
        pipe.fit(X[train], y[train])
        cv.seconds.append(time.perf_counter() - t0)
        if on_fit is not None:
            on_fit()
        p_test, p_train = (pipe.predict_proba(X[rows])[:, 1] for rows in (test, train))
        cv.folds.append(evaluate_fold(y[test], p_test, y[train], p_train))
        cv.test_probs.append(p_test)
        cv.train_probs.append(p_train)
    return cv


def batched_cross_validate(X, y, splits, C: float, tol: float = 1e-8) -> CrossValidation:
    """Every fold of ``splits`` fitted in one vmapped JAX call
    (:func:`~mlsandbox.classical.model_selection.batched_scaled_fits`: the scaling is
    computed per fold inside the batch), then evaluated as :func:`cross_validate` does.
    ``seconds`` holds the one call's time (the first call of a shape also compiles)."""
    t0 = time.perf_counter()
    fits = batched_scaled_fits(X, y, splits, C, tol=tol)
    cv = CrossValidation([], [], [], [time.perf_counter() - t0])
    for (train, test), (mean, scale, coef, intercept, _) in zip(splits, fits):
        def prob(rows):
            z = ((X[rows] - mean) / scale) @ coef[0] + intercept[0]
            return np.exp(-np.logaddexp(0, -z))     # sigmoid, as the estimator computes it
        p_test, p_train = prob(test), prob(train)
        cv.folds.append(evaluate_fold(y[test], p_test, y[train], p_train))
        cv.test_probs.append(p_test)
        cv.train_probs.append(p_train)
    return cv


def summary(folds: Sequence[dict]) -> dict:
    """``{metric: {"mean", "std"}}`` over the folds (population std, as numpy's)."""
    out = {}
    for key in ("accuracy", "roc_auc", "precision", "recall", "f1", "f1_at_threshold"):
        v = np.array([f[key] for f in folds])
        out[key] = {"mean": float(v.mean()), "std": float(v.std())}
    return out


def max_gap(folds: Sequence[dict], reference: Sequence[dict],
            keys: Sequence[str] = FOLD_SCALARS) -> float:
    """``max |f[k] - r[k]|`` over the folds and the scalar metrics ``keys`` (by default
    all of :data:`FOLD_SCALARS`, the F1-optimal threshold and the F1 at it included)."""
    return max(abs(f[k] - r[k]) for f, r in zip(folds, reference, strict=True) for k in keys)


def grid_search(X, y, splits, Cs: Sequence[float], backends: Sequence[str],
                tol: float = 1e-8, on_fit: Callable[[], object] | None = None) -> dict:
    """``GridSearchCV(make_pipeline(...), {"logreg__C": Cs, "logreg__backend": backends},
    cv=splits, scoring="roc_auc")`` fitted on ``(X, y)``.

    ``on_fit()`` is called after each of the ``len(Cs) * len(backends) * len(splits)``
    fits (when its test fold has been scored: the scorer is scikit-learn's "roc_auc",
    wrapped) and after the refit on all rows.  Returns ``{"best_params": {"C",
    "backend"}, "best_roc_auc", "results": [{"C", "backend", "mean_roc_auc",
    "std_roc_auc"}, ...]}`` in the grid's order (ties go to the first candidate).
    """
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import GridSearchCV

    roc_auc = get_scorer("roc_auc")

    def scoring(estimator, X_test, y_test):
        score = roc_auc(estimator, X_test, y_test)
        if on_fit is not None:
            on_fit()
        return score

    grid = GridSearchCV(make_pipeline(Cs[0], backends[0], tol),
                        {"logreg__C": list(Cs), "logreg__backend": list(backends)},
                        cv=splits, scoring=scoring)
    grid.fit(X, y)
    if on_fit is not None:
        on_fit()                                    # the refit of the best on all rows
    cv = grid.cv_results_
    return {"best_params": {"C": grid.best_params_["logreg__C"],
                            "backend": grid.best_params_["logreg__backend"]},
            "best_roc_auc": float(grid.best_score_),
            "results": [{"C": p["logreg__C"], "backend": p["logreg__backend"],
                         "mean_roc_auc": float(m), "std_roc_auc": float(s)}
                        for p, m, s in zip(cv["params"], cv["mean_test_score"],
                                           cv["std_test_score"])]}
