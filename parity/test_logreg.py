"""Logistic regression: the multinomial network, the Hessians and the solvers of every
backend against the NumPy reference, and the fitted coefficients against scikit-learn.

The binary network (forward, loss, gradients) is in the shared table of
``parity/test_networks.py`` (``-k logreg``); here the multinomial one gets the same
checks, then what only logistic regression has: a Hessian and a solver.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

import models
from mlsandbox.classical import solvers
from mlsandbox.compare import assert_close, tolerance
from mlsandbox.testing.cases import DTYPES, PEERS
from kernels.logistic import logistic_objective as objective

BACKENDS = models.BACKENDS
MULTI = {"n_in": 64, "n_classes": 10, "C": 0.3}


@functools.lru_cache(maxsize=None)
def net(backend, **config):
    return models.get("logreg", backend, **config)


def multi_net(backend):
    return net(backend, **MULTI)


@functools.lru_cache(maxsize=None)
def dataset(name):
    load = {"breast_cancer": load_breast_cancer, "iris": load_iris, "wine": load_wine}[name]
    X, y = load(return_X_y=True)
    return StandardScaler().fit_transform(X), y


# -- the multinomial network ---------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 9, 300])
@pytest.mark.parametrize("backend", PEERS)
def test_multinomial_network(backend, n, dtype):
    spec = multi_net("numpy").spec
    params = spec.init(seed=3, dtype=dtype)
    batch = spec.example(n=n, seed=4, dtype=dtype)
    want_z = multi_net("numpy").forward(params, batch)
    want_loss, want_grads = multi_net("numpy").loss_and_grads(params, batch)
    got_z = multi_net(backend).forward(params, batch)
    got_loss, got_grads = multi_net(backend).loss_and_grads(params, batch)
    assert got_z.shape == (n, 10) and got_z.dtype.name == dtype
    assert_close(got_z, want_z, tolerance(dtype), f"logreg/{backend} multinomial logits")
    assert_close(got_loss, want_loss, tolerance(dtype), f"logreg/{backend} multinomial loss")
    assert_close(got_grads, want_grads, tolerance(dtype, "grad"),
                 f"logreg/{backend} multinomial gradients")


def test_loss_is_sklearn_objective_over_C_n():
    """``loss_and_grads`` is scikit-learn's ``C Σ CE + ½‖W‖²`` divided by ``C n``: checked
    against sklearn's own loss module at a random point (binary and multinomial)."""
    from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    for config, sk_loss in [({"n_in": 30, "n_classes": 2, "C": 0.7}, HalfBinomialLoss()),
                            ({"n_in": 30, "n_classes": 4, "C": 0.7},
                             HalfMultinomialLoss(n_classes=4))]:
        spec = models.spec("logreg", **config)
        params = spec.init(seed=5, dtype="float64")
        batch = spec.example(n=50, seed=6, dtype="float64")
        ours, _ = net("numpy", **config).loss_and_grads(params, batch)
        lml = LinearModelLoss(base_loss=sk_loss, fit_intercept=True)
        w = np.concatenate([params["dense.kernel"], params["dense.bias"][None]])
        coef = w[:, 0] if spec.binary else w.T   # sklearn: (k, d+1) for multinomial
        want = lml.loss(coef, batch["x"], batch["y"].astype(float),
                        l2_reg_strength=1 / (spec.C * 50))
        # sklearn's loss is the *half* multinomial deviance: equal to the cross-entropy
        assert_close(ours, want, tolerance("float64"), "loss vs sklearn's LinearModelLoss")


# -- Hessians -------------------------------------------------------------------------


def _theta(params):
    return np.concatenate([params["dense.kernel"], params["dense.bias"][None]]).ravel()


def _hessian(backend, theta, x, y, k, C):
    """The Hessian of the penalized objective as each backend's solver computes it."""
    if backend == "numpy":
        t = theta.reshape(-1, k)
        return objective(t[:-1], t[-1], x, y, C, hessian=True)[3]
    if backend == "jax":
        from mlsandbox.classical.solvers import jax_newton as m
        yy = y.astype(np.float64 if k == 1 else np.int64)
        closed = np.asarray(m._hessian(theta.reshape(-1, k), x, yy, np.ones(len(y)), C, k,
                                       True))
        auto = np.asarray(m.jax.hessian(lambda t: m._objective(
            t.reshape(-1, k), x, yy, np.ones(len(y)), C, k, True))(theta))
        assert_close(closed, auto, tolerance("float64"), "jax closed-form vs jax.hessian")
        return closed
    calls = {}

    def capture(fun, fun_grad_hess, theta0, **kw):
        calls["h"] = fun_grad_hess(theta)[2]
        return theta0, 1, True

    mod = solvers.solver(backend)
    original = mod.newton
    mod.newton = capture
    try:
        mod.fit(x, y, k, C=C, fit_intercept=True, tol=1e-8, max_iter=1)
    finally:
        mod.newton = original
    return calls["h"]


@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("backend", PEERS)
def test_hessian(backend, k):
    spec = models.spec("logreg", n_in=6, n_classes=max(k, 2), C=0.8)
    params = spec.init(seed=7, dtype="float64")
    batch = spec.example(n=40, seed=8, dtype="float64")
    theta = _theta(params)
    want = _hessian("numpy", theta, batch["x"], batch["y"], k, 0.8)
    got = _hessian(backend, theta, batch["x"], batch["y"], k, 0.8)
    assert got.shape == want.shape == (7 * k, 7 * k)
    assert_close(got, want, tolerance("float64", "grad"), f"{backend} Hessian, k={k}")


def test_reference_hessian_by_finite_differences():
    """The hand-derived Hessian is the derivative of the hand-derived gradient
    (central differences, h = 1e-6; error O(h²) ≈ 1e-10 here)."""
    spec = models.spec("logreg", n_in=5, n_classes=3, C=2.0)
    params = spec.init(seed=9, dtype="float64")
    b = spec.example(n=30, seed=10, dtype="float64")
    theta = _theta(params)

    def grad(t):
        t = t.reshape(6, 3)
        _, dw, db = objective(t[:5], t[5], b["x"], b["y"], 2.0)
        return np.concatenate([dw, db[None]]).ravel()

    h = 1e-6
    fd = np.stack([(grad(theta + h * e) - grad(theta - h * e)) / (2 * h)
                   for e in np.eye(theta.size)], axis=1)
    t = theta.reshape(6, 3)
    want = objective(t[:5], t[5], b["x"], b["y"], 2.0, hessian=True)[3]
    assert np.max(np.abs(fd - want)) < 1e-8


# -- solvers ----------------------------------------------------------------------------

CASES = [("breast_cancer", 0.01), ("breast_cancer", 1.0), ("breast_cancer", 100.0),
         ("iris", 0.1), ("iris", 10.0), ("wine", 1.0)]


@functools.lru_cache(maxsize=None)
def reference_fit(data, C):
    X, y = dataset(data)
    k = 1 if len(np.unique(y)) == 2 else len(np.unique(y))
    return solvers.fit("numpy", X, y, k, C=C)


@functools.lru_cache(maxsize=None)
def sklearn_fit(data, C):
    X, y = dataset(data)
    sk = SkLogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    return sk.fit(X, y)


@pytest.mark.parametrize("data, C", CASES, ids=[f"{d}-C{c:g}" for d, c in CASES])
@pytest.mark.parametrize("backend", BACKENDS)
def test_solver_matches_sklearn(backend, data, C):
    """Coefficients equal scikit-learn's within 1e-6 (its exact Newton-Cholesky solver
    at tol 1e-12; its lbfgs stops up to 8e-5 away at C = 100, see the README)."""
    X, y = dataset(data)
    k = 1 if len(np.unique(y)) == 2 else len(np.unique(y))
    coef, intercept, n_iter, ok = solvers.fit(backend, X, y, k, C=C)
    assert ok and 1 <= n_iter < 30
    sk = sklearn_fit(data, C)
    assert np.max(np.abs(coef - sk.coef_)) < 1e-6
    assert np.max(np.abs(intercept - sk.intercept_)) < 1e-6
    if backend != "numpy":   # and the reference's Newton to rounding
        ref = reference_fit(data, C)
        assert_close(coef, ref[0], 1e-10, f"{backend} coef vs numpy")
        assert_close(intercept, ref[1], 1e-10, f"{backend} intercept vs numpy")


def test_jax_batched_equals_one_by_one():
    """``fit_batched`` (vmap over fold masks and a C grid) gives each problem's own fit."""
    from mlsandbox.classical.solvers import jax_newton

    X, y = dataset("breast_cancer")
    rng = np.random.default_rng(0)
    masks = (rng.random((4, len(y))) < 0.8).astype(float)
    Cs = np.array([0.1, 1.0, 10.0, 1.0])
    coef, intercept, n_iter, ok = jax_newton.fit_batched(X, y, masks, Cs, 1)
    assert ok.all()
    for i in range(4):
        m = masks[i] > 0
        c, b, *_ = solvers.fit("numpy", X[m], y[m], 1, C=Cs[i])
        assert_close(coef[i], c, 1e-10, f"batched fit {i}")
        assert_close(intercept[i], b, 1e-10, f"batched intercept {i}")


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("backend", PEERS)
def test_training_on_the_penalized_loss(backend, n_classes):
    """``Network.train`` steps on the penalized loss in every backend: 20 full-batch SGD
    steps with momentum give the reference's losses and parameters (float64)."""
    from mlsandbox.compare import TRAJECTORY

    config = {"n_in": 30, "n_classes": n_classes, "C": 0.5}
    spec = models.spec("logreg", **config)
    params = spec.init(seed=13, dtype="float64")
    batch = spec.example(n=64, seed=14, dtype="float64")
    want = net("numpy", **config).train(params, batch, "sgd", steps=20, lr=0.5, momentum=0.9)
    got = net(backend, **config).train(params, batch, "sgd", steps=20, lr=0.5, momentum=0.9)
    assert_close(got[1], want[1], TRAJECTORY["optimizer"], f"{backend} losses")
    assert_close(got[0], want[0], TRAJECTORY["optimizer"], f"{backend} params")
    assert want[1][-1] < want[1][0]
