"""Regularization, NumPy reference: dropout, L1/L2 penalties, batch normalization.

Dropout is :mod:`kernels.dropout` (inverted scaling, explicit 0/1 mask), re-exported here.

Penalties are written the way Keras's regularizers define them, as terms added to the
loss; the gradient they add is what torch's ``weight_decay`` adds directly:

==================================  ============================  =====================
penalty                             added gradient                torch equivalent
==================================  ============================  =====================
``l2_penalty(w, λ) = λ Σ w²``       ``2λ w``                      ``weight_decay = 2λ``
(Keras ``regularizers.l2(λ)``)
``l1_penalty(w, λ) = λ Σ |w|``      ``λ sign(w)`` (0 at w = 0)    none
==================================  ============================  =====================

Batch normalization over the batch axis of ``x`` (n, d) (or every axis but the last),
with ``gamma``, ``beta``, ``moving_mean``, ``moving_var`` of shape (d,)::

    train:  μ = mean(x),  σ² = mean((x - μ)²)          (biased: every framework
            x̂ = (x - μ) / √(σ² + ε),  y = γ x̂ + β        normalizes with it)
            moving_mean ← m·moving_mean + (1 - m)·μ
            moving_var  ← m·moving_var  + (1 - m)·σ²·(n/(n-1) if unbiased else 1)
    eval:   y = γ (x - moving_mean) / √(moving_var + ε) + β

``m`` is Keras's and Flax's momentum (weight of the old value, 0.99); torch's momentum
is ``1 - m`` (weight of the new value, 0.1), and torch stores the *unbiased* batch
variance in its running variance (``unbiased=True``) while normalizing with the biased one.
"""

from __future__ import annotations

import numpy as np

from kernels.dropout import dropout_backward, dropout_forward, dropout_mask

__all__ = [
    "dropout_mask", "dropout_forward", "dropout_backward",
    "l1_penalty_forward", "l1_penalty_backward", "l2_penalty_forward", "l2_penalty_backward",
    "batchnorm_forward", "batchnorm_backward",
]


def l2_penalty_forward(w: np.ndarray, lam: float):
    """``λ Σ w²`` (Keras ``regularizers.l2(λ)``).  Returns ``(penalty, cache)``."""
    w = np.asarray(w)
    return np.asarray(lam * np.sum(w * w), w.dtype), (w, lam)


def l2_penalty_backward(dloss, cache):
    """``d(λ Σ w²)/dw = 2λ w`` — twice torch's ``weight_decay = λ``."""
    w, lam = cache
    return np.asarray(dloss, w.dtype) * (2.0 * lam) * w


def l1_penalty_forward(w: np.ndarray, lam: float):
    """``λ Σ |w|`` (Keras ``regularizers.l1(λ)``).  Returns ``(penalty, cache)``."""
    w = np.asarray(w)
    return np.asarray(lam * np.sum(np.abs(w)), w.dtype), (w, lam)


def l1_penalty_backward(dloss, cache):
    """``λ sign(w)``; the subgradient at ``w = 0`` is 0, as torch's and TensorFlow's
    ``abs`` gradients give."""
    w, lam = cache
    return np.asarray(dloss, w.dtype) * lam * np.sign(w)


def batchnorm_forward(x: np.ndarray, gamma, beta, moving_mean, moving_var, *, train: bool,
                      momentum: float = 0.99, eps: float = 1e-3, unbiased: bool = False):
    """Batch normalization of ``x`` (..., d) over every axis but the last.

    Returns ``(y, new_moving_mean, new_moving_var, cache)``; in eval mode the moving
    statistics come back unchanged.  ``momentum`` is the weight of the old value (Keras,
    Flax); ``unbiased=True`` stores ``σ²·n/(n-1)`` as torch does.
    """
    axes = tuple(range(x.ndim - 1))
    if train:
        n = x.size // x.shape[-1]
        if unbiased and n < 2:
            raise ValueError("the unbiased running variance needs at least 2 values per "
                             f"feature, got {n}")
        mu = x.mean(axis=axes)
        xc = x - mu
        var = (xc * xc).mean(axis=axes)
        stored = var * (n / (n - 1)) if unbiased else var
        new_mean = momentum * moving_mean + (1.0 - momentum) * mu
        new_var = momentum * moving_var + (1.0 - momentum) * stored
    else:
        xc = x - moving_mean
        var = moving_var
        new_mean, new_var = moving_mean, moving_var
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xc * inv_std
    y = gamma * xhat + beta
    return y, new_mean, new_var, (xhat, gamma, inv_std, train, axes)


def batchnorm_backward(dy: np.ndarray, cache):
    """Gradients ``(dx, dgamma, dbeta)`` of :func:`batchnorm_forward`.

    ``dβ = Σ dy``, ``dγ = Σ dy·x̂``.  Eval mode: ``dx = dy·γ/√(v + ε)`` (the moving
    statistics are constants).  Train mode, with ``g = dy·γ`` and ``n`` values per feature
    (μ and σ² depend on every x)::

        dx = (1/σ̃) · (g - mean(g) - x̂·mean(g·x̂)),   σ̃ = √(σ² + ε)
    """
    xhat, gamma, inv_std, train, axes = cache
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    g = dy * gamma
    if not train:
        return g * inv_std, dgamma, dbeta
    dx = inv_std * (g - g.mean(axis=axes) - xhat * (g * xhat).mean(axis=axes))
    return dx, dgamma, dbeta
