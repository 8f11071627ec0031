"""Logistic losses with their Hessians, and the L2 penalty, NumPy reference.

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
:func:`linear_logit_hessian`.
"""

from __future__ import annotations

import numpy as np


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


def l2_forward(w: np.ndarray, strength: float):
    """``½ λ Σ w²``.  Returns ``(penalty, cache)``."""
    w = np.asarray(w)
    lam = np.asarray(strength, w.dtype)
    return np.asarray(0.5 * lam * np.sum(w * w), w.dtype), (w, lam)


def l2_backward(dloss, cache):
    """``d(½ λ Σ w²)/dw = λ w``; its Hessian is ``λ I``."""
    w, lam = cache
    return np.asarray(dloss, w.dtype) * lam * w
