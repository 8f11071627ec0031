"""Transformer encoder pieces, NumPy reference: layer norm, exact GELU, scaled dot-product
attention with a padding mask, and the split/merge of attention heads.

Shapes: ``x`` (..., d) for layer norm and GELU (BERT: (n, T, d)); ``q``, ``k``, ``v``
(n, h, T, dh) for attention with ``attention_mask`` (n, T); ``x`` (n, T, h·dh) for the
head split.

Attention dropout is not here: Hugging Face's BERT applies it to the attention weights only
in training mode, and the parity runs set it to 0 (eval mode, or
``attention_probs_dropout_prob=0``); the contract's one dropout rule (injected masks,
else each framework's RNG; the *Dropout* section of ``models/_network.py``) covers the
hidden-state dropouts.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf


# -- layer norm --------------------------------------------------------------------------------
def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *, eps: float):
    """Layer normalization of ``x`` (..., d) over its last axis, ``gamma``, ``beta`` (d,)::

        μ = mean_j x_j,   σ² = mean_j (x_j - μ)²  (biased),   r = 1 / √(σ² + ε)
        x̂ = (x - μ) · r,   y = γ x̂ + β

    ``eps`` has no default on purpose: BERT uses 1e-12, and the frameworks' defaults all
    differ (torch ``nn.LayerNorm`` 1e-5, Keras ``LayerNormalization`` 1e-3, Flax
    ``LayerNorm`` 1e-6).  Returns ``(y, cache)``.
    """
    x = np.asarray(x)
    d = x.shape[-1]
    if np.shape(gamma) != (d,) or np.shape(beta) != (d,):
        raise ValueError(f"layernorm: gamma and beta must have shape ({d},) for x of shape "
                         f"{x.shape}, got {np.shape(gamma)} and {np.shape(beta)}")
    if not eps >= 0:
        raise ValueError(f"layernorm: eps must be >= 0, got {eps}")
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + np.asarray(eps, x.dtype))
    xhat = xc * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std)


def layernorm_backward(dy: np.ndarray, cache):
    """Gradients ``(dx, dgamma, dbeta)`` of :func:`layernorm_forward`.

    ``dβ = Σ dy``, ``dγ = Σ dy·x̂`` (sums over every axis but the last).  For ``dx``, with
    ``g = dy·γ`` and means over the last axis (d values): ``x̂`` depends on every ``x_j`` of
    its row through μ and σ², ``∂μ/∂x_j = 1/d`` and ``∂σ²/∂x_j = 2(x_j - μ)/d``, so::

        dx = r · (g - mean(g) - x̂ · mean(g · x̂))

    (the batch-norm formula of :func:`kernels.regularization.batchnorm_backward`, over the
    feature axis instead of the batch axis).
    """
    xhat, gamma, inv_std = cache
    axes = tuple(range(dy.ndim - 1))
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    g = dy * gamma
    dx = inv_std * (g - g.mean(axis=-1, keepdims=True)
                    - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, dgamma, dbeta


# -- GELU ----------------------------------------------------------------------------------------
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu_forward(x: np.ndarray):
    """Exact GELU, ``x Φ(x) = ½ x (1 + erf(x / √2))`` (BERT's ``hidden_act="gelu"``, torch's
    ``F.gelu`` default).  Not the tanh form ``½ x (1 + tanh(√(2/π)(x + 0.044715 x³)))`` that
    ``jax.nn.gelu`` and ``keras.ops.gelu`` compute by default (up to 4.7e-4 apart).

    Returns ``(y, cache)``.
    """
    x = np.asarray(x)
    cdf = 0.5 * (1.0 + erf(x * np.asarray(_INV_SQRT2, x.dtype)))
    return x * cdf, (x, cdf)


def gelu_backward(dy: np.ndarray, cache):
    """``d(x Φ(x))/dx = Φ(x) + x φ(x)``, ``φ(x) = e^{-x²/2} / √(2π)``; returns ``dy`` times it."""
    x, cdf = cache
    pdf = np.exp(-0.5 * x * x) * np.asarray(_INV_SQRT_2PI, x.dtype)
    return dy * (cdf + x * pdf)


# -- scaled dot-product attention ------------------------------------------------------------------
def attention_mask_bias(attention_mask: np.ndarray, dtype) -> np.ndarray:
    """The additive mask of Hugging Face's eager BERT, (n, 1, 1, T) in ``dtype``: 0 where
    ``attention_mask`` is 1 (keep), ``finfo(dtype).min`` where it is 0 (padding).

    transformers 5 (``masking_utils.eager_mask``) builds it as
    ``where(mask.bool(), 0, finfo(dtype).min)``, broadcast over heads and query positions;
    for a 0/1 mask that equals transformers 4's ``(1 - mask) · finfo(dtype).min``.  Only the
    keys are masked: a padded *query* position still attends to the real tokens.
    """
    m = np.asarray(attention_mask)
    if m.ndim != 2:
        raise ValueError(f"attention: attention_mask must have shape (n, T), got {m.shape}")
    if m.size and not np.all((m == 0) | (m == 1)):
        raise ValueError("attention: attention_mask must hold 1 (keep) or 0 (padding), got "
                         f"values {np.unique(m)[:5]}")
    dtype = np.dtype(dtype)
    bias = np.where(m != 0, np.zeros((), dtype), np.finfo(dtype).min).astype(dtype)
    return bias[:, None, None, :]


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                      attention_mask: np.ndarray | None = None):
    """Scaled dot-product attention, q (n, h, Tq, dh), k and v (n, h, Tk, dh),
    ``attention_mask`` (n, Tk) or None -> out (n, h, Tq, dh)::

        s = q kᵀ · dh^(-1/2) + bias          (n, h, Tq, Tk); bias from attention_mask_bias
        p = softmax(s) over the keys          (the row maximum subtracted first)
        out = p v

    Padded keys get ``p = 0`` exactly (``exp(finfo.min - max)`` underflows to 0).  A fully
    padded sequence (mask all 0) adds ``finfo.min`` to every score of its rows; ``s + min``
    rounds to ``min`` for any O(1) score, so the row is constant and its softmax is uniform
    (1/Tk): ``out`` is the mean of ``v``, never NaN (Hugging Face's eager BERT does the
    same).  The scale is multiplied as ``dh ** -0.5``, as transformers does.

    Returns ``(out, cache)``; the attention weights ``p`` are ``cache[0]``.
    """
    q, k, v = (np.asarray(a) for a in (q, k, v))
    same = q.ndim == k.ndim == 4 and k.shape == v.shape and q.shape[:2] == k.shape[:2] \
        and q.shape[3] == k.shape[3]
    if not same:
        raise ValueError("attention: q must be (n, h, Tq, dh) and k, v (n, h, Tk, dh) with the "
                         f"same n, h, dh; got {q.shape}, {k.shape}, {v.shape}")
    scale = np.asarray(q.shape[-1] ** -0.5, q.dtype)
    s = (q @ np.swapaxes(k, -1, -2)) * scale
    if attention_mask is not None:
        if np.shape(attention_mask) != (k.shape[0], k.shape[2]):
            raise ValueError(f"attention: attention_mask must have shape (n, Tk) = "
                             f"{(k.shape[0], k.shape[2])}, got {np.shape(attention_mask)}")
        s = s + attention_mask_bias(attention_mask, q.dtype)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return p @ v, (p, q, k, v, scale)


def attention_backward(dout: np.ndarray, cache):
    """Gradients ``(dq, dk, dv)`` of :func:`attention_forward` for ``dout`` (n, h, Tq, dh)::

        dv = pᵀ dout                        (n, h, Tk, dh)
        dp = dout vᵀ                        (n, h, Tq, Tk)
        ds = p ⊙ (dp - Σ_keys dp ⊙ p)        (the softmax Jacobian; the bias is a constant)
        dq = ds k · dh^(-1/2),   dk = dsᵀ q · dh^(-1/2)

    Padded keys have ``p = 0``, so they get ``dk = dv = 0``.  In a fully padded row the
    gradient is that of the exact function (a constant bias does not change the softmax's
    Jacobian), which every framework's autodiff also gives; the rounded forward there is
    flat in q and k, so finite differences would see 0.
    """
    p, q, k, v, scale = cache
    dv = np.swapaxes(p, -1, -2) @ dout
    dp = dout @ np.swapaxes(v, -1, -2)
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    dq = (ds @ k) * scale
    dk = (np.swapaxes(ds, -1, -2) @ q) * scale
    return dq, dk, dv


# -- heads ----------------------------------------------------------------------------------------
def split_heads_forward(x: np.ndarray, num_heads: int):
    """(n, T, h·dh) -> (n, h, T, dh): ``y[n, i, t, j] = x[n, t, i·dh + j]`` (head i owns the
    i-th block of dh features, as in BERT's ``view(n, T, h, dh).transpose(1, 2)``).

    Returns ``(y, cache)``.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"split heads: x must have shape (n, T, h*dh), got {x.shape}")
    n, T, d = x.shape
    if num_heads < 1 or d % num_heads:
        raise ValueError(f"split heads: the width {d} is not a multiple of num_heads={num_heads}")
    return x.reshape(n, T, num_heads, d // num_heads).transpose(0, 2, 1, 3), x.shape


def split_heads_backward(dy: np.ndarray, cache):
    """A permutation of the entries: ``dx`` is ``dy`` merged back, (n, T, h·dh)."""
    return merge_heads_forward(dy)[0]


def merge_heads_forward(x: np.ndarray):
    """(n, h, T, dh) -> (n, T, h·dh), the inverse of :func:`split_heads_forward`
    (BERT's ``transpose(1, 2).reshape(n, T, h·dh)`` after attention).

    Returns ``(y, cache)``; ``y`` is contiguous.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"merge heads: x must have shape (n, h, T, dh), got {x.shape}")
    n, h, T, dh = x.shape
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3)).reshape(n, T, h * dh), h


def merge_heads_backward(dy: np.ndarray, cache):
    """``dx`` is ``dy`` split again into the h heads, (n, h, T, dh)."""
    return split_heads_forward(dy, cache)[0]
