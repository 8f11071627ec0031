"""The estimator in every backend: scikit-learn's own check suite, the errors its users
expect, and use inside pipelines, grid searches and cross-validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlsandbox.classical import LogisticRegression
from mlsandbox.classical.solvers import BACKENDS

#: Checks that do not apply, with the reason (none so far: every check runs, and the
#: pandas one is skipped by scikit-learn itself when pandas is not installed).
NOT_APPLICABLE: dict[str, str] = {}


@parametrize_with_checks([LogisticRegression(backend=b) for b in BACKENDS],
                         expected_failed_checks=lambda est: NOT_APPLICABLE)
def test_sklearn_check_estimator(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("backend", BACKENDS)
def test_attributes_and_methods_match_sklearn(backend, cancer):
    X, y = cancer
    ours = LogisticRegression(C=0.5, backend=backend).fit(X, y)
    sk = SkLogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-12).fit(X, y)
    assert ours.coef_.shape == sk.coef_.shape == (1, 30)
    assert ours.intercept_.shape == sk.intercept_.shape == (1,)
    assert ours.n_iter_.shape == (1,) and ours.n_iter_[0] >= 1
    np.testing.assert_array_equal(ours.classes_, sk.classes_)
    np.testing.assert_allclose(ours.decision_function(X), sk.decision_function(X), atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-7)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    assert ours.score(X, y) == sk.score(X, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_multinomial_string_labels(backend):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    ours = LogisticRegression(backend=backend).fit(X, names)
    sk = SkLogisticRegression(solver="newton-cholesky", tol=1e-12).fit(X, names)
    np.testing.assert_array_equal(ours.classes_, sk.classes_)
    assert ours.coef_.shape == (3, 4)
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-7)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_errors_users_expect(backend):
    X, y = load_iris(return_X_y=True)
    est = LogisticRegression(backend=backend)
    with pytest.raises(NotFittedError, match="not fitted"):
        est.predict(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad, y)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        est.fit(bad, y)
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: 1"):
        est.fit(X, np.ones(len(y), dtype=int))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        est.fit(X, y + 0.5)
    with pytest.raises(ValueError, match="'backend' parameter .* must be a str among"):
        LogisticRegression(backend="mxnet").fit(X, y)
    with pytest.raises(ValueError, match="'C' parameter .* must be a float in the range"):
        LogisticRegression(C=0).fit(X, y)
    est.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but LogisticRegression is "
                                         "expecting 4 features"):
        est.predict(X[:, :3])


def test_pipeline_grid_search_over_C_and_backend():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    grid = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1.0],
                               "logisticregression__backend": ["numpy", "jax"]},
                        cv=StratifiedKFold(3, shuffle=True, random_state=0))
    grid.fit(X, y)
    scores = grid.cv_results_["mean_test_score"].reshape(2, 2)   # C x backend
    np.testing.assert_array_equal(scores[:, 0], scores[:, 1])   # backends agree exactly
    sk = GridSearchCV(make_pipeline(StandardScaler(), SkLogisticRegression()),
                      {"logisticregression__C": [0.1, 1.0]},
                      cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)
    np.testing.assert_array_equal(scores[:, 0], sk.cv_results_["mean_test_score"])
    assert clone(grid.best_estimator_).get_params()["logisticregression__C"] in (0.1, 1.0)


def test_cross_val_score_matches_sklearn():
    X, y = load_breast_cancer(return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    ours = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()), X, y, cv=cv)
    sk = cross_val_score(make_pipeline(StandardScaler(), SkLogisticRegression()), X, y, cv=cv)
    np.testing.assert_array_equal(ours, sk)
