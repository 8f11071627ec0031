"""PyTorch solver: Newton with the gradient and Hessian from autograd.

The objective is written with torch's own cross-entropies
(``binary_cross_entropy_with_logits``, ``cross_entropy``) on ``F.linear`` logits.  The
Hessian is a double backward: ``autograd.grad(..., create_graph=True)`` gives g, and one
batched vector-Jacobian product of g with the identity (``is_grads_batched=True``) gives
every row of H at once (measured 2.2 ms for breast cancer's 31 x 31, against 11 ms for
``torch.func.hessian`` and 12 ms for a loop of 31 backward passes, one thread).  The loop is the
shared :func:`mlsandbox.classical.solvers.newton.newton`.

:func:`fit_cg` (Newton-CG, :func:`mlsandbox.classical.solvers.newton.newton_cg`) takes X
as ``torch.sparse_csr_tensor``: the same objective with ``X W`` through :class:`SparseMatmul`.
Per Newton step g is taken once with ``create_graph=True``; each Hessian-vector product is
one more backward of that graph with the vector (``autograd.grad(g, θ, v,
retain_graph=True)``, a double backward: two sparse products).  torch's own CSR ``x @ W``
is differentiable twice too, but its backward transposes X on every call: 52 ms per
product on the digits (1797 x 64, 10 classes, one thread) against 0.5 ms for the two
products themselves, hence the Function, whose backward is the product with a CSR ``Xᵀ``
built once (and is itself that Function, so the graph of g differentiates again).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from kernels.logistic import l2_strength
from mlsandbox.classical.solvers.newton import newton, newton_cg, null_direction, split
from models.frameworks import load_torch

torch = load_torch()
F = torch.nn.functional


class SparseMatmul(torch.autograd.Function):
    """``X @ W`` for a sparse CSR X (not differentiated) whose backward is ``Xᵀ @ dZ``
    with the transpose ``xt`` given, itself through this Function (twice differentiable)."""

    @staticmethod
    def forward(ctx, w, x, xt):
        ctx.x, ctx.xt = x, xt
        return x @ w

    @staticmethod
    def backward(ctx, dz):
        return SparseMatmul.apply(dz, ctx.xt, ctx.x), None, None


def _csr(A):
    """scipy CSR -> torch CSR (its "beta state" warning silenced: the products used here,
    CSR times dense, are the long-supported part)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)),
                                       torch.from_numpy(A.indices.astype(np.int64)),
                                       torch.from_numpy(A.data.copy()), size=A.shape,
                                       dtype=torch.float64, check_invariants=False)


def objective(theta, x, y, C, k: int, fit_intercept: bool):
    """Penalized mean cross-entropy of flat ``theta`` ((d + fit_intercept) k,); ``x``
    dense, or a pair (X, Xᵀ) of sparse CSR tensors."""
    n, d = x[0].shape if isinstance(x, tuple) else x.shape
    t = theta.reshape(d + fit_intercept, k)
    w = t[:d]
    if isinstance(x, tuple):                       # (X, Xᵀ) sparse CSR
        z = SparseMatmul.apply(w, *x) + (t[d] if fit_intercept else 0.0)
    else:
        z = F.linear(x, w.T, t[d] if fit_intercept else None)
    if k == 1:
        ce = F.binary_cross_entropy_with_logits(z[:, 0], y)
    else:
        ce = F.cross_entropy(z, y)
    return ce + l2_strength(C, n) * (w * w).sum()


#: Below this many entries of X (times classes) one intra-op thread is used: torch's
#: thread-pool wake-ups cost more than these problems' arithmetic (a 200 x 5 fit took
#: 600 ms with 2 threads on a busy 2-core machine, 17 ms with 1).
SMALL = 200_000


@contextlib.contextmanager
def _threads(size: int):
    before = torch.get_num_threads()
    if size < SMALL and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(X, y, n_out, *, C, fit_intercept, tol, max_iter):
    with _threads(np.size(X) * n_out):
        return _fit(X, y, n_out, C=C, fit_intercept=fit_intercept, tol=tol,
                    max_iter=max_iter)


def _fit(X, y, n_out, *, C, fit_intercept, tol, max_iter):
    x = torch.from_numpy(np.array(X, dtype=np.float64))   # a copy: torch wants writable
    yt = torch.from_numpy(np.asarray(y, dtype=np.float64 if n_out == 1 else np.int64))
    d, k = x.shape[1], n_out

    def f(theta):
        return objective(theta, x, yt, C, k, fit_intercept)

    def fun(theta):
        with torch.no_grad():
            return f(torch.from_numpy(theta)).item()

    def fun_grad_hess(theta):
        th = torch.from_numpy(theta).requires_grad_(True)
        value = f(th)
        (g,) = torch.autograd.grad(value, th, create_graph=True)
        eye = torch.eye(th.numel(), dtype=th.dtype)
        (h,) = torch.autograd.grad(g, th, eye, is_grads_batched=True)
        return value.item(), g.detach().numpy(), h.numpy()

    theta, n_iter, ok = newton(fun, fun_grad_hess, np.zeros((d + fit_intercept) * k),
                               tol=tol, max_iter=max_iter,
                               null=null_direction(d, k, fit_intercept))
    return (*split(theta, d, k, fit_intercept), n_iter, ok)


def fit_cg(X, y, n_out, *, C, fit_intercept, tol, max_iter):
    """Newton-CG; ``X`` scipy.sparse CSR float64."""
    with _threads(X.nnz * n_out):
        x = (_csr(X), _csr(X.T.tocsr()))
        yt = torch.from_numpy(np.asarray(y, dtype=np.float64 if n_out == 1 else np.int64))
        d, k = X.shape[1], n_out

        def f(theta):
            return objective(theta, x, yt, C, k, fit_intercept)

        def fun(theta):
            with torch.no_grad():
                return f(torch.from_numpy(theta)).item()

        def fun_grad_hessp(theta):
            th = torch.from_numpy(theta).requires_grad_(True)
            value = f(th)
            (g,) = torch.autograd.grad(value, th, create_graph=True)

            def hessp(v):
                (hv,) = torch.autograd.grad(g, th, torch.from_numpy(v), retain_graph=True)
                return hv.numpy()
            return value.item(), g.detach().numpy(), hessp

        theta, n_iter, ok = newton_cg(fun, fun_grad_hessp,
                                      np.zeros((d + fit_intercept) * k), tol=tol,
                                      max_iter=max_iter,
                                      null=null_direction(d, k, fit_intercept))
    return (*split(theta, d, k, fit_intercept), n_iter, ok)
