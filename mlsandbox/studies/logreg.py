"""Logistic regression on the breast cancer data (embedded in scikit-learn), as
scikit-learn users run it: StandardScaler + LogisticRegression in a Pipeline, stratified
K-fold cross-validation, a grid search over C and the backend.

scikit-learn's own estimator and ours in every backend (NumPy IRLS, JAX, torch, Keras
Newton solvers) see the same folds; the report shows the per-fold metrics side by side,
the JAX fit of all folds in one vmapped call, fit times, the ROC curves per fold and the
confusion matrix.  ``metrics.json`` holds every number but the timings: the same seed
gives a byte-identical file.
"""

from __future__ import annotations

from mlsandbox.classical.workflow import Config, run

HELP = "logistic regression in four frameworks vs scikit-learn on breast cancer (CV report)"

__all__ = ["Config", "HELP", "run"]
