"""Classical ML track: logistic regression as scikit-learn estimators in four backends,
and the evaluation workflow (metrics, stratified K-fold, plots, reports)."""

from mlsandbox.classical.estimator import LogisticRegression

__all__ = ["LogisticRegression"]
