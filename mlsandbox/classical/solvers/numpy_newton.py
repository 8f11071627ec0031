"""NumPy solver: Newton / IRLS on :func:`kernels.logistic.logistic_objective`, the
reference objective of the logistic-regression network.

For the binary model each Newton step is the weighted least-squares solve of IRLS,
``(X̃ᵀ S X̃ + λP) s = -g`` with ``S = diag(p(1-p))/n``; the multinomial one uses the full
(d+1)k x (d+1)k Hessian (``kernels.logistic.linear_logit_hessian``).
"""

from __future__ import annotations

import numpy as np

from kernels.logistic import logistic_objective as objective
from mlsandbox.classical.solvers.newton import newton, null_direction, split


def fit(X, y, n_out, *, C, fit_intercept, tol, max_iter):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    d, k = X.shape[1], n_out

    def unpack(theta):
        t = theta.reshape(d + fit_intercept, k)
        return t[:d], (t[d] if fit_intercept else None)

    def fun(theta):
        return float(objective(*unpack(theta), X, y, C)[0])

    def fun_grad_hess(theta):
        loss, dw, db, h = objective(*unpack(theta), X, y, C, hessian=True)
        g = np.concatenate([dw, db[None]]) if fit_intercept else dw
        return float(loss), g.ravel(), h

    theta, n_iter, ok = newton(fun, fun_grad_hess, np.zeros((d + fit_intercept) * k),
                               tol=tol, max_iter=max_iter,
                               null=null_direction(d, k, fit_intercept))
    return (*split(theta, d, k, fit_intercept), n_iter, ok)
