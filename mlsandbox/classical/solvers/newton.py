"""Damped Newton's method and truncated Newton (Newton-CG), shared by the solvers.

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
    def direction(theta, it):
        f, g, h = fun_grad_hess(theta)
        _check_finite(f, g, it)
        if null is not None:
            h = h + np.outer(null, null)
        try:
            step = np.linalg.solve(h, -g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(h, -g, rcond=None)[0]
        return f, g, step, None

    return _descend(fun, direction, theta0, tol=tol, max_iter=max_iter)


#: Conjugate-gradient iterations per Newton step at most (a cap, not the usual exit: the
#: forcing tolerance below ends CG first on well-conditioned problems).
MAX_CG = 2000
#: Relative residual ``‖r‖ <= FINAL_RTOL ‖g‖`` of the CG solve of a step that meets the
#: stopping test (see :func:`newton_cg`).
FINAL_RTOL = 1e-10


def conjugate_gradient(hessp, g, rtol_abs: float, max_cg: int = MAX_CG, s0=None):
    """Approximately solve ``H s = -g`` by conjugate gradients from ``s0`` (zeros).

    Stops when ``‖H s + g‖₂ <= rtol_abs``, after ``max_cg`` products, or on a direction of
    non-positive curvature ``pᵀHp <= 0`` (rounding; H is positive definite here), where
    it returns the iterate so far (or ``-g`` if there is none yet: steepest descent).
    Returns ``(s, ‖residual‖₂, n_products)``.
    """
    s = np.zeros_like(g) if s0 is None else s0.copy()
    r = -g - hessp(s) if s0 is not None else -g.copy()      # r = -g - H s
    n_products = int(s0 is not None)
    p = r.copy()
    rr = float(r @ r)
    for _ in range(max_cg):
        if np.sqrt(rr) <= rtol_abs:
            break
        hp = hessp(p)
        n_products += 1
        curv = float(p @ hp)
        if not curv > 0:
            if not np.any(s):
                s = -g.copy()
            break
        alpha = rr / curv
        s += alpha * p
        r -= alpha * hp
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return s, np.sqrt(rr), n_products


def newton_cg(fun, fun_grad_hessp, theta0, *, tol: float, max_iter: int, null=None,
              max_cg: int = MAX_CG):
    """Truncated Newton (Newton-CG) from ``theta0``: the loop of :func:`newton` with the
    step from conjugate gradients on Hessian-vector products, H never formed.

    ``fun(θ) -> f``; ``fun_grad_hessp(θ) -> (f, g, hessp)`` with ``hessp(v) -> H v`` at
    that θ (a closure, so each backend linearizes once per Newton step: the NumPy one
    keeps the probabilities, torch the graph of g, JAX the ``jax.linearize`` of g).

    CG stops at the forcing tolerance ``‖H s + g‖ <= η = min(½, √‖g‖)·‖g‖`` (Eisenstat &
    Walker's choice: superlinear convergence at few products far from the optimum).
    The stopping rule is :func:`newton`'s, stop after a step with ``max|s| <= tol``, and
    an inexact step needs one more thing for it to bound the coefficients' error: after
    the step the error is ``H⁻¹ r`` (r the CG residual) plus the quadratic term.  So
    when a step meets the test, CG is continued on the same system (warm, from that s)
    to ``‖r‖ <= FINAL_RTOL ‖g‖``, which makes ``‖H⁻¹ r‖ <= 1e-10 · cond(H) · ‖s‖`` —
    below ``tol`` for any condition number under 1e8 (about 6e5 for IMDB at C = 100,
    whose smallest eigenvalue is 1/(C n)); the refined step is tested again and taken.
    The ``u uᵀ`` term of :func:`newton` is added to every product (``null``), and each
    step's component along u is dropped: the exact step has none, but a CG solve stopped
    at the loose forcing tolerance leaves up to ‖r‖ along u (9e-4 on the digits at
    C = 100), which no later step undoes, since f is flat along u; the intercepts would
    then not sum to zero as :func:`newton`'s and scikit-learn's do.

    Returns ``(θ, n_iter, converged)``, ``n_iter`` the Newton steps (CG products are
    not counted).
    """
    def direction(theta, it):
        f, g, hv = fun_grad_hessp(theta)
        _check_finite(f, g, it)
        if null is not None:
            def hessp(v):
                return hv(v) + null * float(null @ v)
        else:
            hessp = hv
        def flat(step):          # drop the component along u (see the docstring)
            return step if null is None else step - null * float(null @ step)

        gnorm = float(np.linalg.norm(g))
        step, _, _ = conjugate_gradient(hessp, g, min(0.5, np.sqrt(gnorm)) * gnorm, max_cg)

        def refine(step):
            return flat(conjugate_gradient(hessp, g, FINAL_RTOL * gnorm, max_cg, s0=step)[0])
        return f, g, flat(step), refine

    return _descend(fun, direction, theta0, tol=tol, max_iter=max_iter)


def _check_finite(f, g, it):
    if not np.isfinite(f) or not np.all(np.isfinite(g)):
        raise FloatingPointError(f"the objective is not finite at iteration {it} "
                                 f"(f={f}, max|g|={np.max(np.abs(g))})")


def _descend(fun, direction, theta0, *, tol, max_iter):
    """The damped loop shared by :func:`newton` and :func:`newton_cg`.

    ``direction(θ, it) -> (f, g, step, refine)``: the objective, gradient and search
    direction at θ; ``refine(step)`` (or None) returns a more accurate step, called when
    ``step`` meets the stopping test, which the refined step must then meet too.
    """
    theta = np.array(theta0, dtype=np.float64)
    for it in range(1, max_iter + 1):
        f, g, step, refine = direction(theta, it)
        slope = float(g @ step)
        if not slope < 0:        # zero gradient, or H lost definiteness to rounding
            if not np.any(g):
                return theta, it, True
            step, slope = -g, -float(g @ g)
        if np.max(np.abs(step)) <= tol and refine is not None:
            refined = refine(step)
            if float(g @ refined) < 0:
                step, slope = refined, float(g @ refined)
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
