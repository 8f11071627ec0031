"""Logistic regression benchmarks: fit time of every backend and of scikit-learn.

    pytest bench/bench_logreg.py --benchmark-only --benchmark-group-by=group

Groups (each holds scikit-learn and every backend, so one table compares them):

* ``logreg-fit-breast-cancer``: one fit on the standardized breast cancer data (569 x 30,
  C=1);
* ``logreg-fit-synthetic-100k``: one fit on ``make_classification(100_000, 100)``
  (standardized, C=1);
* ``logreg-cv-5fold``: 5-fold cross-validation of ``Pipeline(StandardScaler, estimator)``
  on breast cancer (per-fold time = this / 5); ``jax-vmap`` fits all folds in one call;
* ``logreg-cv-grid``: the same folds times a grid of 5 C values (25 fits); ``jax-vmap``
  fits all 25 in one call.

"The same tolerance": our Newton solvers stop when every coefficient's step is below
1e-8; scikit-learn's lbfgs gets ``tol=1e-8`` on its projected gradient (its default is
1e-4) and ``newton-cholesky`` the same.  ``extra_info["coef_error"]`` records how far
each fit ends from the optimum (max |coef - coef*|, coef* from the NumPy reference at
tol 1e-12), so the table compares fits of known accuracy.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import harness
from mlsandbox.classical import LogisticRegression
from mlsandbox.classical.model_selection import batched_scaled_fits, stratified_kfold
from mlsandbox.classical.solvers import BACKENDS
from mlsandbox.classical.workflow import make_pipeline

TOL = 1e-8
GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
SKLEARN = ("sklearn-lbfgs", "sklearn-newton-cholesky")
FITTERS = [*SKLEARN, *(pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS)]


def _standardized(X):
    return (X - X.mean(0)) / X.std(0)


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def synthetic():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=100_000, n_features=100, n_informative=20,
                               random_state=0)
    return _standardized(X), y


def _estimator(name, C=1.0):
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    if name in SKLEARN:
        return SkLogisticRegression(C=C, solver=name.removeprefix("sklearn-"), tol=TOL,
                                    max_iter=10_000)
    return LogisticRegression(C=C, backend=name, tol=TOL)


def _info(benchmark, name, group, data):
    benchmark.group = group
    backend = "numpy" if name.startswith("sklearn") or name == "jax-vmap" else name
    benchmark.extra_info.update(harness.machine_info(backend), data=data, tol=TOL)
    if name == "jax-vmap":
        benchmark.extra_info.update(harness.machine_info("jax"))
    if name.startswith("sklearn"):
        import sklearn

        benchmark.extra_info["sklearn"] = sklearn.__version__


def _fit_bench(benchmark, name, X, y, group, data):
    _info(benchmark, name, group, data)
    if benchmark.enabled:          # run once in CI (--benchmark-disable): no warm-up
        _estimator(name).fit(X[: len(X) // 2], y[: len(y) // 2])   # imports, tracing
        _estimator(name).fit(X, y)                                  # and the jit
    est = benchmark.pedantic(lambda: _estimator(name).fit(X, y),
                             rounds=5 if benchmark.enabled else 1, iterations=1)
    benchmark.extra_info["n_iter"] = int(np.ravel(est.n_iter_)[0])
    if benchmark.enabled:
        optimum = LogisticRegression(backend="numpy", tol=1e-12).fit(X, y).coef_
        benchmark.extra_info["coef_error"] = float(np.max(np.abs(est.coef_ - optimum)))


@pytest.mark.parametrize("name", FITTERS)
def test_logreg_fit_breast_cancer(benchmark, name, cancer):
    X, y = cancer
    _fit_bench(benchmark, name, _standardized(X), y, "logreg-fit-breast-cancer",
               "breast cancer 569 x 30, standardized, C=1")


@pytest.mark.parametrize("name", FITTERS)
def test_logreg_fit_synthetic_100k(benchmark, name, synthetic):
    X, y = synthetic
    _fit_bench(benchmark, name, X, y, "logreg-fit-synthetic-100k",
               "make_classification 100,000 x 100 (20 informative), standardized, C=1")


CV_NAMES = ["sklearn", *(pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS),
            pytest.param("jax-vmap", marks=pytest.mark.jax)]


def _cv_fn(name, X, y, splits, Cs):
    """``fn()`` fitting Pipeline(StandardScaler, estimator) on every (fold, C)."""
    if name == "jax-vmap":
        all_splits = [s for _ in Cs for s in splits]
        all_C = np.repeat(np.asarray(Cs, dtype=np.float64), len(splits))
        return lambda: batched_scaled_fits(X, y, all_splits, all_C, tol=TOL)
    backend = "sklearn" if name == "sklearn" else name

    def fn():
        out = []
        for C in Cs:
            for train, _ in splits:
                pipe = make_pipeline(C, backend, TOL)
                if backend == "sklearn":
                    pipe.set_params(logreg__tol=TOL, logreg__max_iter=10_000)
                out.append(pipe.fit(X[train], y[train]))
        return out

    return fn


@pytest.mark.parametrize("name", CV_NAMES)
@pytest.mark.parametrize("grid", [False, True], ids=["5fold", "grid"])
def test_logreg_cv(benchmark, name, grid, cancer):
    X, y = cancer
    splits = stratified_kfold(y, 5, shuffle=True, random_state=0)
    Cs = GRID if grid else (1.0,)
    _info(benchmark, name, "logreg-cv-grid" if grid else "logreg-cv-5fold",
          f"breast cancer, 5 stratified folds (seed 0) x C in {list(Cs)}")
    benchmark.extra_info["fits_per_call"] = len(Cs) * len(splits)
    fn = _cv_fn(name, X, y, splits, Cs)
    if benchmark.enabled:
        fn()                                                    # compile, warm up
    benchmark.pedantic(fn, rounds=5 if benchmark.enabled else 1, iterations=1)
