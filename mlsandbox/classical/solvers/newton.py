"""Damped Newton's method, shared by the numpy, torch and keras solvers.

Each iteration evaluates ``(f, g, H)`` at θ (the backend's job), solves
``(H + u uᵀ) s = -g`` and backtracks ``θ + t s`` with ``t = 1, ½, ¼, ...`` until Armijo's
condition ``f(θ + t s) <= f(θ) + 10⁻⁴ t gᵀs`` holds.  It stops after taking a step with
``max|s| <= tol`` (in full, without a line search, whose test of f would only see
rounding at that size): near the optimum the Newton step is θ* - θ up to a quadratically small
error, so ``tol`` bounds the coefficients' own error.  (A test on the gradient would not:
at C = 100 on the breast cancer data ``max|g| = 3e-9`` still leaves coefficients 1e-5
from the optimum, because the Hessian's smallest eigenvalue is about 1/(C n).)

The ``u uᵀ`` term: the softmax model with an intercept is over-parameterized (adding one
constant to every class's intercept changes no probability), so H is singular along
``u`` = (1 on each intercept entry)/√k.  The gradient is orthogonal to ``u`` (the softmax
residuals sum to zero over classes), hence so is the step: the intercepts keep summing
to zero from the zero start, as they do in scikit-learn's lbfgs, and H + uuᵀ is positive
definite.  For the binary and the intercept-free models ``u`` is None.
"""

from __future__ import annotations

import numpy as np

ARMIJO = 1e-4
MAX_HALVINGS = 40
#: Armijo's test allows f to rise by this much relative to |f|: at the end the predicted
#: decrease (1e-17 and less) is below f's own rounding, and the test would see noise.
F_ROUNDING = 10 * np.finfo(np.float64).eps


def null_direction(d: int, k: int, fit_intercept: bool):
    """``u`` for θ of shape (d + fit_intercept, k) flattened row-major, or None."""
    if k == 1 or not fit_intercept:
        return None
    u = np.zeros((d + 1, k))
    u[d] = 1 / np.sqrt(k)
    return u.ravel()


def newton(fun, fun_grad_hess, theta0, *, tol: float, max_iter: int, null=None):
    """Minimize from ``theta0`` (flat float64).  ``fun(θ) -> f`` and
    ``fun_grad_hess(θ) -> (f, g, H)`` return NumPy float64.

    Returns ``(θ, n_iter, converged)``; ``n_iter`` counts the Newton steps taken (each
    one gradient and Hessian evaluation).
    """
    theta = np.array(theta0, dtype=np.float64)
    for it in range(1, max_iter + 1):
        f, g, h = fun_grad_hess(theta)
        if not np.isfinite(f) or not np.all(np.isfinite(g)):
            raise FloatingPointError(f"the objective is not finite at iteration {it} "
                                     f"(f={f}, max|g|={np.max(np.abs(g))})")
        if null is not None:
            h = h + np.outer(null, null)
        try:
            step = np.linalg.solve(h, -g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(h, -g, rcond=None)[0]
        slope = float(g @ step)
        if not slope < 0:        # zero gradient, or H lost definiteness to rounding
            if not np.any(g):
                return theta, it, True
            step, slope = -g, -float(g @ g)
        if np.max(np.abs(step)) <= tol:   # inside the quadratic region: take it, done
            return theta + step, it, True
        t = 1.0
        for _ in range(MAX_HALVINGS):
            f_new = fun(theta + t * step)
            if np.isfinite(f_new) and f_new <= f + ARMIJO * t * slope + F_ROUNDING * abs(f):
                break
            t *= 0.5
        else:                    # no decrease left at float64 precision
            return theta, it, False
        theta = theta + t * step
    return theta, max_iter, False


def split(theta, d: int, k: int, fit_intercept: bool):
    """Flat θ -> ``(coef (k, d), intercept (k,))`` in scikit-learn's layout."""
    t = np.asarray(theta, dtype=np.float64).reshape(d + fit_intercept, k)
    intercept = t[d].copy() if fit_intercept else np.zeros(k)
    return np.ascontiguousarray(t[:d].T), intercept
