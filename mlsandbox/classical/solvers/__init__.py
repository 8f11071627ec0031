"""Solvers for L2-penalized logistic regression, one per backend.

Every solver minimizes the same objective, that of ``models/logreg`` (the mean
cross-entropy plus ``‖W‖² / (2 C n)``, scikit-learn's ``C Σ CE + ½‖W‖²`` divided by
``C n``), over ``θ = [W; b]`` of shape (d + fit_intercept, k) with k = 1 for two classes
(sigmoid) and k = n_classes otherwise (softmax), starting from zeros as scikit-learn does:

========  ==========================================================================
numpy     Newton / IRLS with the hand-derived gradient and Hessian (the reference)
jax       Newton inside one ``jax.jit`` (``lax.while_loop``), autodiff gradient and
          the closed-form Hessian; ``jax.vmap`` fits many problems at once
torch     Newton, gradient and Hessian from autograd (a double backward, all rows of H
          in one batched vector-Jacobian product)
keras     Newton, gradient and Hessian from nested ``tf.GradientTape`` under one
          ``tf.function`` (Keras's cross-entropies on ``keras.ops``)
========  ==========================================================================

The numpy, torch and keras solvers share the damped Newton loop of
:func:`mlsandbox.classical.solvers.newton.newton`; JAX runs the same loop in-graph.

``fit(backend, X, y, n_out, C=..., fit_intercept=..., tol=..., max_iter=...)`` returns
``(coef (k, d), intercept (k,), n_iter, converged)`` in float64.
"""

from __future__ import annotations

import importlib

SOLVERS = {
    "numpy": "mlsandbox.classical.solvers.numpy_newton",
    "jax": "mlsandbox.classical.solvers.jax_newton",
    "torch": "mlsandbox.classical.solvers.torch_newton",
    "keras": "mlsandbox.classical.solvers.keras_newton",
}
BACKENDS = tuple(SOLVERS)


def solver(backend: str):
    """The solver module of ``backend`` (imports its framework on first use)."""
    if backend not in SOLVERS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {list(BACKENDS)}")
    return importlib.import_module(SOLVERS[backend])


def fit(backend: str, X, y, n_out: int, *, C: float = 1.0, fit_intercept: bool = True,
        tol: float = 1e-8, max_iter: int = 100):
    """Fit with ``backend``'s solver: ``(coef (k, d), intercept (k,), n_iter, converged)``.

    ``X`` (n, d) float64, ``y`` (n,) integer class ids in ``[0, max(n_out, 2))``.
    """
    return solver(backend).fit(X, y, n_out, C=C, fit_intercept=fit_intercept, tol=tol,
                               max_iter=max_iter)
