"""Logistic losses with their Hessians, and the penalized logistic objective, NumPy reference.

Shapes: ``z`` logits (n,) for the sigmoid pair, (n, k) for softmax; ``y`` integer labels
(n,); ``x`` inputs (n, d).  The losses are means over the batch, like
:func:`kernels.losses.softmax_cross_entropy_forward` (whose cache the softmax Hessian
here reads), and every Hessian is that of the *mean*.

Second derivatives, per example (``p`` the predicted probabilities):

* sigmoid:  ``ℓ(z) = log(1 + e^z) - y z``;  ``ℓ' = p - y``;  ``ℓ'' = p (1 - p)``.
* softmax:  ``ℓ(z) = logsumexp(z) - z_y``;  ``∇ℓ = p - onehot(y)``;
  ``∇²ℓ = diag(p) - p pᵀ`` (k x k, singular along the all-ones vector: adding a constant to
  every logit changes nothing).

For logits ``z = x W + b`` the chain rule is linear in the parameters, so the Hessian of
the mean loss in ``θ = [W; b]`` (``W`` (d, k) stacked over ``b`` (1, k); flattened row-major,
index ``a·k + c``) is ``H[(a,c),(a',c')] = Σ_n x̃_na x̃_na' S_n[c,c']`` with ``x̃ = [x, 1]``
and ``S_n`` the per-example logit Hessian above (already divided by n):
:func:`linear_logit_hessian`; its product with a vector, without forming it, is
:func:`linear_logit_hessp` (``Hv = X̃ᵀ (S ⊙ (X̃ V))``: two products with x).

``x`` may be a ``scipy.sparse`` matrix (CSR) in :func:`logistic_objective` and
:func:`linear_logit_hessp`: only ``x @ M`` and ``x.T @ M`` are taken, never a dense copy.
"""

from __future__ import annotations

import numpy as np

from kernels.dense import dense_backward, dense_forward
from kernels.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from kernels.regularization import l2_penalty_backward, l2_penalty_forward


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^{-z})`` without overflow: ``e^{-|z|}`` is the only exponential taken."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_cross_entropy_forward(z: np.ndarray, y: np.ndarray):
    """Mean binary cross-entropy of logits ``z`` (n,) against labels ``y`` (n,) in {0, 1}.

    ``ℓ = log(1 + e^z) - y z = max(z, 0) - y z + log1p(e^{-|z|})`` (stable for any z).
    Returns ``(loss, cache)``; ``loss`` is a 0-d array of ``z``'s dtype.
    """
    z = np.asarray(z)
    y = np.asarray(y)
    if z.ndim != 1 or y.shape != z.shape:
        raise ValueError(f"z and y must both have shape (n,), got {z.shape} and {y.shape}")
    if y.size and not np.all((y == 0) | (y == 1)):
        raise ValueError(f"binary labels must be 0 or 1, got values {np.unique(y)[:5]}")
    t = y.astype(z.dtype)
    per = np.maximum(z, 0) - t * z + np.log1p(np.exp(-np.abs(z)))
    return np.asarray(per.mean(), dtype=z.dtype), (sigmoid(z), t)


def sigmoid_cross_entropy_backward(dloss, cache):
    """``dL/dz = dloss · (p - y) / n`` (n,)."""
    p, t = cache
    return (np.asarray(dloss, p.dtype) / p.shape[0]) * (p - t)


def sigmoid_cross_entropy_hessian(cache) -> np.ndarray:
    """Second derivative of the mean loss in each logit: ``p (1 - p) / n``, shape (n, 1, 1)
    (a 1 x 1 logit Hessian per example, the layout :func:`linear_logit_hessian` takes)."""
    p, _ = cache
    return (p * (1 - p) / p.shape[0])[:, None, None]


def softmax_cross_entropy_hessian(cache) -> np.ndarray:
    """``(diag(p_n) - p_n p_nᵀ) / n`` for each example, shape (n, k, k), from the cache of
    :func:`kernels.losses.softmax_cross_entropy_forward`."""
    p, _ = cache
    n, k = p.shape
    s = -p[:, :, None] * p[:, None, :]
    s[:, np.arange(k), np.arange(k)] += p
    return s / n


def linear_logit_hessian(x: np.ndarray, s: np.ndarray, bias: bool = True) -> np.ndarray:
    """Hessian in ``θ = [W; b]`` of a loss whose logit Hessians are ``s`` (n, k, k), for
    logits ``z = x W (+ b)``.  Returns (d'k, d'k) with ``d' = d + bias``."""
    n, d = x.shape
    k = s.shape[1]
    xa = np.concatenate([x, np.ones((n, 1), x.dtype)], axis=1) if bias else x
    if k == 1:
        h = (xa * s[:, 0, 0][:, None]).T @ xa                 # (d', d')
        return h
    h = np.einsum("na,nkl,nb->akbl", xa, s, xa, optimize=True)  # (d', k, d', k)
    m = xa.shape[1] * k
    return h.reshape(m, m)


def linear_logit_hessp(x, s: np.ndarray, v_kernel: np.ndarray, v_bias=None):
    """``H v`` for the Hessian of :func:`linear_logit_hessian` (without the penalty),
    ``v = [V_kernel (d, k); v_bias (k,)]``: ``dZ = x V + v_b``, ``T_n = S_n dZ_n``,
    ``(xᵀ T, Σ_n T_n)``.  ``s`` is (n, k, k) or, cheaper, the per-example pieces of
    :func:`logit_hessian_factors`.  Returns ``(hv_kernel, hv_bias or None)``."""
    dz = x @ v_kernel
    if v_bias is not None:
        dz = dz + v_bias
    if isinstance(s, tuple):           # sigmoid weights (n,), or softmax p (n, k) / n
        kind, a = s
        t = a[:, None] * dz if kind == "sigmoid" else a * dz - a * (
            (a * dz).sum(1, keepdims=True) * a.shape[0])
    else:
        t = np.einsum("nkl,nl->nk", s, dz)
    return x.T @ t, (t.sum(0) if v_bias is not None else None)


def logit_hessian_factors(cache, k: int):
    """The per-example logit Hessians of the mean loss, factored for
    :func:`linear_logit_hessp`: ``("sigmoid", p(1-p)/n)`` or ``("softmax", p/n)`` (then
    ``S_n dz = (p ⊙ dz - p (p·dz)) / n``), O(n k) instead of the (n, k, k) array."""
    p, _ = cache
    n = p.shape[0]
    return ("sigmoid", p * (1 - p) / n) if k == 1 else ("softmax", p / n)


def l2_strength(C: float, n: int) -> float:
    """λ of the penalty ``λ Σ w²`` (:func:`kernels.regularization.l2_penalty_forward`,
    the one L2 convention here) that makes the mean loss of ``n`` examples plus it
    scikit-learn's objective ``C Σ CE + ½‖W‖²`` divided by ``C n``: ``1 / (2 C n)``."""
    return 1.0 / (2.0 * C * n)


def logistic_objective(kernel, bias, x, y, C, hessian=False, hessp=False):
    """Penalized mean logistic loss of a linear model: ``(L, dW, db[, H][, hessp])``.

    ``z = x W + b`` (``kernel`` (d, k), ``bias`` (k,) or None for no intercept: then
    ``db`` is None and H is dk x dk; k = 1: sigmoid cross-entropy on ``z[:, 0]``,
    k > 1: softmax cross-entropy), ``L = mean CE + λ ‖W‖²`` with ``λ =``
    :func:`l2_strength` ``(C, n)``, so ``dW = Xᵀ dZ + 2λ W`` and
    ``H = Σ_i (x̃_i x̃_iᵀ) ⊗ S_i + 2λ P`` (``P``: identity on the kernel entries, which
    come first; the intercept is not penalized).  Newton's method on this is the
    classical track's NumPy solver; the logistic-regression network is the same
    objective (its spec declares the penalty).

    ``hessp=True`` appends ``hessp(v_kernel, v_bias) -> (hv_kernel, hv_bias)``, the
    product with H (penalty included) at this point, for Newton-CG; ``x`` may then be
    scipy.sparse (``hessian=True`` needs a dense x: it forms the (d'k)² matrix).
    """
    n, k = x.shape[0], kernel.shape[1]
    lam = l2_strength(C, n)
    z, c_dense = dense_forward(x, kernel, bias)
    if k == 1:
        loss, c_loss = sigmoid_cross_entropy_forward(z[:, 0], y)
        dz = sigmoid_cross_entropy_backward(1.0, c_loss)[:, None]
    else:
        loss, c_loss = softmax_cross_entropy_forward(z, y)
        dz = softmax_cross_entropy_backward(1.0, c_loss)
    penalty, c_l2 = l2_penalty_forward(kernel, lam)
    _, dw, db = dense_backward(dz, c_dense, need_dx=False)
    out = (loss + penalty, dw + l2_penalty_backward(1.0, c_l2), db)
    if hessp:
        factors = logit_hessian_factors(c_loss, k)

        def product(v_kernel, v_bias=None):
            hw, hb = linear_logit_hessp(x, factors, v_kernel, v_bias)
            return hw + l2_penalty_backward(1.0, (v_kernel, lam)), hb
    if not hessian:
        return out + (product,) if hessp else out
    s = sigmoid_cross_entropy_hessian(c_loss) if k == 1 else softmax_cross_entropy_hessian(c_loss)
    h = linear_logit_hessian(x, s, bias=bias is not None)
    d_w = kernel.size
    h[np.arange(d_w), np.arange(d_w)] += 2.0 * lam
    return out + (h, product) if hessp else out + (h,)
