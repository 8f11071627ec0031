"""Solvers for L2-penalized logistic regression, one per backend.

Every solver minimizes the same objective, that of ``models/logreg`` (the mean
cross-entropy plus ``‖W‖² / (2 C n)``, scikit-learn's ``C Σ CE + ½‖W‖²`` divided by
``C n``), over ``θ = [W; b]`` of shape (d + fit_intercept, k) with k = 1 for two classes
(sigmoid) and k = n_classes otherwise (softmax), starting from zeros as scikit-learn does:

========  ====================================  =====================================
backend   ``solver="newton"`` (dense H)          ``solver="newton-cg"`` (sparse X, Hv)
========  ====================================  =====================================
numpy     Newton / IRLS with the hand-derived   scipy.sparse X; hand-derived g and
          gradient and Hessian (the reference)  ``Hv = X̃ᵀ(S ⊙ X̃V) + 2λPv``
jax       Newton inside one ``jax.jit``         ``jax.experimental.sparse.BCOO`` X;
          (``lax.while_loop``), autodiff g,     ``jax.grad``, Hv by forward-over-
          closed-form H; ``jax.vmap`` batches   reverse (``jax.linearize`` of g), jitted
torch     Newton, g and H from autograd (a      ``torch.sparse_csr_tensor`` X; g with
          double backward, all rows of H in     ``create_graph``, each Hv one more
          one batched vector-Jacobian product)  backward of g (double backward)
keras     Newton, g and H from nested           ``tf.sparse.SparseTensor`` X through
          ``tf.GradientTape`` in one            ``keras.ops.matmul``; Hv = gradient of
          ``tf.function``                       ⟨g, v⟩, nested tapes, one ``tf.function``
========  ====================================  =====================================

The loops exist once, in :mod:`mlsandbox.classical.solvers.newton`: ``newton`` (dense
Hessian, numpy/torch/keras; JAX runs the same loop in-graph) and ``newton_cg`` (all four
backends: each supplies f, g and a Hessian-vector product, the CG loop is NumPy's).

``fit(backend, X, y, n_out, C=..., fit_intercept=..., tol=..., max_iter=...,
solver="newton")`` returns ``(coef (k, d), intercept (k,), n_iter, converged)`` in
float64.  ``solver="newton-cg"`` takes X as scipy.sparse CSR (dense X is converted).
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
SOLVER_NAMES = ("newton", "newton-cg")


def solver(backend: str):
    """The solver module of ``backend`` (imports its framework on first use)."""
    if backend not in SOLVERS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {list(BACKENDS)}")
    return importlib.import_module(SOLVERS[backend])


def fit(backend: str, X, y, n_out: int, *, C: float = 1.0, fit_intercept: bool = True,
        tol: float = 1e-8, max_iter: int = 100, solver_name: str = "newton"):
    """Fit with ``backend``'s solver: ``(coef (k, d), intercept (k,), n_iter, converged)``.

    ``X`` (n, d) float64 (scipy.sparse for ``solver_name="newton-cg"``), ``y`` (n,)
    integer class ids in ``[0, max(n_out, 2))``.
    """
    if solver_name not in SOLVER_NAMES:
        raise ValueError(f"unknown solver {solver_name!r}; expected one of "
                         f"{list(SOLVER_NAMES)}")
    module = solver(backend)
    if solver_name == "newton-cg":
        import scipy.sparse as sp

        X = sp.csr_matrix(X, dtype="float64")
        if not X.has_canonical_format:   # sorted, unique indices; never the caller's X
            X = X.copy()
            X.sum_duplicates()
        return module.fit_cg(X, y, n_out, C=C, fit_intercept=fit_intercept, tol=tol,
                             max_iter=max_iter)
    return module.fit(X, y, n_out, C=C, fit_intercept=fit_intercept, tol=tol,
                      max_iter=max_iter)
