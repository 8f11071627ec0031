"""Sparse input and the Newton-CG solver of ``mlsandbox.classical.LogisticRegression``.

Every backend's newton-cg reaches the dense NumPy Newton optimum (to 1e-8 relative to
max(1, max|coef|)), for binary and multinomial models, with and without an intercept, on
a real TF-IDF matrix (our ``TfidfVectorizer`` over the shipped corpus) and on
scikit-learn's bundled data as CSR; sparse and dense input fit the same model;
scikit-learn's own solvers agree to 1e-6.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

from mlsandbox.classical import LogisticRegression
from mlsandbox.classical import estimator as estimator_module
from mlsandbox.classical.solvers import BACKENDS


@functools.lru_cache(maxsize=None)
def corpus_tfidf():
    """TF-IDF (CSR) of the shipped corpus's 240 training sentences, binary labels."""
    from mlsandbox.data import load_text_corpus
    from mlsandbox.text import TfidfVectorizer

    ds = load_text_corpus()
    return TfidfVectorizer().fit_transform(ds.x_train), np.asarray(ds.y_train)


@functools.lru_cache(maxsize=None)
def dataset(name):
    if name == "tfidf":
        return corpus_tfidf()
    if name == "tfidf-3class":     # three classes: every third sentence moved up one
        X, y = corpus_tfidf()
        return X, y + (np.arange(len(y)) % 3 == 0)
    X, y = (load_breast_cancer if name == "cancer" else load_wine)(return_X_y=True)
    return sp.csr_matrix(StandardScaler().fit_transform(X)), y


def rel_err(a, b, scale):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(1.0, np.max(np.abs(scale)))


@functools.lru_cache(maxsize=None)
def dense_reference(name, C, fit_intercept):
    X, y = dataset(name)
    return LogisticRegression(C=C, solver="newton", fit_intercept=fit_intercept).fit(
        X.toarray(), y)


CASES = [("tfidf", 10.0), ("tfidf-3class", 3.0), ("cancer", 1.0), ("wine", 10.0)]


@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
@pytest.mark.parametrize("name, C", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("backend", BACKENDS)
def test_newton_cg_reaches_the_dense_newton_optimum(backend, name, C, fit_intercept):
    X, y = dataset(name)
    ref = dense_reference(name, C, fit_intercept)
    ours = LogisticRegression(C=C, backend=backend, fit_intercept=fit_intercept).fit(X, y)
    assert ours.coef_.shape == ref.coef_.shape
    assert rel_err(ours.coef_, ref.coef_, ref.coef_) < 1e-8
    assert rel_err(ours.intercept_, ref.intercept_, ref.coef_) < 1e-8
    assert 1 <= ours.n_iter_[0] <= 30
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X.toarray()))


@pytest.mark.parametrize("name", ["tfidf", "wine"])
def test_backends_agree_with_each_other(name):
    X, y = dataset(name)
    fits = {b: LogisticRegression(C=3.0, backend=b).fit(X, y) for b in BACKENDS}
    for b in BACKENDS[1:]:
        assert rel_err(fits[b].coef_, fits["numpy"].coef_, fits["numpy"].coef_) < 1e-8
        assert rel_err(fits[b].intercept_, fits["numpy"].intercept_,
                       fits["numpy"].coef_) < 1e-8


@pytest.mark.parametrize("name", ["tfidf", "tfidf-3class", "wine"])
def test_sparse_and_dense_input_fit_the_same_model(name):
    X, y = dataset(name)
    a = LogisticRegression(C=2.0, solver="newton-cg").fit(X, y)
    b = LogisticRegression(C=2.0, solver="newton-cg").fit(X.toarray(), y)
    c = LogisticRegression(C=2.0, solver="newton").fit(X, y)       # small: densified
    for other in (b, c):
        assert rel_err(a.coef_, other.coef_, a.coef_) < 1e-8
        assert rel_err(a.intercept_, other.intercept_, a.coef_) < 1e-8
    np.testing.assert_allclose(a.decision_function(X), a.decision_function(X.toarray()),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X.toarray()), atol=1e-8)


@pytest.mark.parametrize("sk_solver", ["newton-cg", "lbfgs"])
@pytest.mark.parametrize("name", ["tfidf", "tfidf-3class"])
def test_matches_sklearn(name, sk_solver):
    X, y = dataset(name)
    ours = LogisticRegression(C=10.0).fit(X, y)
    sk = SkLogisticRegression(C=10.0, solver=sk_solver, tol=1e-12, max_iter=10_000).fit(X, y)
    assert rel_err(ours.coef_, sk.coef_, sk.coef_) < 1e-6
    assert rel_err(ours.intercept_ - ours.intercept_.mean(),
                   sk.intercept_ - sk.intercept_.mean(), sk.coef_) < 1e-6
    assert np.mean(ours.predict(X) == sk.predict(X)) == 1.0


def test_auto_picks_newton_cg_for_sparse_or_wide_input(monkeypatch):
    X, y = dataset("tfidf")
    used = []
    from mlsandbox.classical import solvers

    real = solvers.fit

    def spy(*args, solver_name, **kw):
        used.append(solver_name)
        return real(*args, solver_name=solver_name, **kw)

    monkeypatch.setattr(solvers, "fit", spy)
    LogisticRegression().fit(X, y)                        # sparse
    LogisticRegression().fit(X[:, :50].toarray(), y)      # dense, 51 parameters
    wide = estimator_module.CG_THRESHOLD + 1
    LogisticRegression().fit(np.random.default_rng(0).normal(size=(20, wide)),
                             np.arange(20) % 2)           # dense, wide
    assert used == ["newton-cg", "newton", "newton-cg"]


def test_bad_inputs_raise_clear_errors():
    n, d = 10, 20_000
    X = sp.random(n, d, density=1e-3, format="csr", random_state=0)
    y = np.arange(n) % 2
    with pytest.raises(ValueError, match=r"solver='newton' forms the dense Hessian of "
                                         r"20001 parameters.*solver='newton-cg'"):
        LogisticRegression(solver="newton").fit(X, y)
    tall = sp.random(60_000, 1000, density=1e-4, format="csr", random_state=0)
    with pytest.raises(ValueError, match=r"densify the sparse X of 60000 x 1000"):
        LogisticRegression(solver="newton").fit(tall, np.arange(60_000) % 2)
    with pytest.raises(ValueError, match="'solver' parameter .* must be a str among"):
        LogisticRegression(solver="lbfgs").fit(X, y)
    Xd = X.toarray()
    Xd[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(sp.csr_matrix(Xd), y)
    est = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="X has 19999 features, but LogisticRegression "
                                         "is expecting 20000 features"):
        est.predict(X[:, 1:])


@pytest.mark.jax
@pytest.mark.parametrize("name", ["tfidf", "tfidf-3class"])
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
def test_jax_closed_form_hessian_vector_product_is_jvp_of_grad(name, fit_intercept):
    """The JAX solver's Hv (closed form on sorted segment sums, for speed) equals
    forward-over-reverse autodiff of its own objective, at a random point."""
    from mlsandbox.classical.solvers import jax_newton as J

    jax, jnp = J.jax, J.jnp
    X, y = dataset(name)
    k = 1 if len(np.unique(y)) == 2 else len(np.unique(y))
    rng = np.random.default_rng(0)
    size = (X.shape[1] + fit_intercept) * k
    theta, v = rng.normal(size=size), rng.normal(size=size)
    f, _, probabilities, hvp = J._cg_functions(k, fit_intercept)
    Xj, w = J._bcoo(X), jnp.ones(X.shape[0])
    yj = jnp.asarray(y, dtype=jnp.int64 if k > 1 else jnp.float64)
    want = jax.jvp(lambda t: jax.grad(f)(t, Xj, yj, w, 3.0), (jnp.asarray(theta),),
                   (jnp.asarray(v),))[1]
    Xr, XTr = J._sorted_rows(X), J._sorted_rows(X.T)
    got = hvp(probabilities(jnp.asarray(theta), Xr), jnp.asarray(v), Xr, XTr, w, 3.0)
    assert rel_err(got, want, want) < 1e-12
