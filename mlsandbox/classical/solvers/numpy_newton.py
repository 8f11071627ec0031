"""NumPy solver: Newton / IRLS on :func:`kernels.logistic.logistic_objective`, the
reference objective of the logistic-regression network.

For the binary model each Newton step is the weighted least-squares solve of IRLS,
``(X̃ᵀ S X̃ + λP) s = -g`` with ``S = diag(p(1-p))/n``; the multinomial one uses the full
(d+1)k x (d+1)k Hessian (``kernels.logistic.linear_logit_hessian``).

:func:`fit_cg` is Newton-CG on the same kernel for scipy.sparse (CSR) or wide X: the
gradient and the hand-derived Hessian-vector product ``X̃ᵀ (S ⊙ (X̃ V)) + 2λ P v``
(``kernels.logistic.linear_logit_hessp``, two sparse products per CG iteration) at the
probabilities of the Newton step's point.
"""

from __future__ import annotations

import numpy as np

from kernels.logistic import logistic_objective as objective
from mlsandbox.classical.solvers.newton import newton, newton_cg, null_direction, split


def _problem(X, y, n_out, C, fit_intercept):
    d, k = X.shape[1], n_out

    def unpack(theta):
        t = theta.reshape(d + fit_intercept, k)
        return t[:d], (t[d] if fit_intercept else None)

    def pack(dw, db):
        return (np.concatenate([dw, db[None]]) if fit_intercept else dw).ravel()

    def fun(theta):
        return float(objective(*unpack(theta), X, y, C)[0])

    return d, k, unpack, pack, fun


def fit(X, y, n_out, *, C, fit_intercept, tol, max_iter):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    d, k, unpack, pack, fun = _problem(X, y, n_out, C, fit_intercept)

    def fun_grad_hess(theta):
        loss, dw, db, h = objective(*unpack(theta), X, y, C, hessian=True)
        return float(loss), pack(dw, db), h

    theta, n_iter, ok = newton(fun, fun_grad_hess, np.zeros((d + fit_intercept) * k),
                               tol=tol, max_iter=max_iter,
                               null=null_direction(d, k, fit_intercept))
    return (*split(theta, d, k, fit_intercept), n_iter, ok)


def fit_cg(X, y, n_out, *, C, fit_intercept, tol, max_iter):
    """Newton-CG; ``X`` scipy.sparse CSR (or dense) float64."""
    y = np.asarray(y)
    d, k, unpack, pack, fun = _problem(X, y, n_out, C, fit_intercept)

    def fun_grad_hessp(theta):
        loss, dw, db, product = objective(*unpack(theta), X, y, C, hessp=True)

        def hessp(v):
            return pack(*product(*unpack(v)))
        return float(loss), pack(dw, db), hessp

    theta, n_iter, ok = newton_cg(fun, fun_grad_hessp, np.zeros((d + fit_intercept) * k),
                                  tol=tol, max_iter=max_iter,
                                  null=null_direction(d, k, fit_intercept))
    return (*split(theta, d, k, fit_intercept), n_iter, ok)
