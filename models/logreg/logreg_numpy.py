"""Logistic regression, NumPy reference: loss, gradient and Hessian derived by hand.

Forward, for a batch X (n, d), kernel W (d, k), bias b (k,) (k = 1 for two classes):
    Z = X W + b                                   (n, k)  the logits
    L = (1/n) Σ_i ℓ(Z_i, y_i) + ½ λ ‖W‖²,  λ = 1 / (C n)
with ℓ the sigmoid cross-entropy (k = 1) or the softmax cross-entropy (k > 1).
Backward:
    dZ = (σ(Z) - y) / n   or   (softmax(Z) - onehot(y)) / n
    dW = Xᵀ dZ + λ W,   db = Σ_i dZ_i
Hessian in θ = [W; b] (flattened row-major, (d+1)k x (d+1)k):
    H = Σ_i (x̃_i x̃_iᵀ) ⊗ S_i + λ P
with x̃_i = [x_i, 1], S_i = p(1-p)/n (binary) or (diag p_i - p_i p_iᵀ)/n, and P the
identity on the kernel entries, zero on the bias (the intercept is not penalized).
Newton's method (IRLS) on this objective is the estimators' NumPy solver.
"""

from __future__ import annotations

import numpy as np

from kernels import (dense_backward, dense_forward, softmax_cross_entropy_backward,
                     softmax_cross_entropy_forward)
from kernels.logistic import (l2_backward, l2_forward, linear_logit_hessian,
                              sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward,
                              sigmoid_cross_entropy_hessian, softmax_cross_entropy_hessian)
from models.adapters.numpy_adapter import NumpyNetwork


def objective(kernel, bias, x, y, C, hessian=False):
    """``(L, dW, db[, H])`` of the penalized mean loss above; ``bias`` may be None (no
    intercept: then ``db`` is None and H is d k x d k)."""
    n, k = x.shape[0], kernel.shape[1]
    z, c_dense = dense_forward(x, kernel, bias)
    if k == 1:
        loss, c_loss = sigmoid_cross_entropy_forward(z[:, 0], y)
        dz = sigmoid_cross_entropy_backward(1.0, c_loss)[:, None]
    else:
        loss, c_loss = softmax_cross_entropy_forward(z, y)
        dz = softmax_cross_entropy_backward(1.0, c_loss)
    penalty, c_l2 = l2_forward(kernel, 1.0 / (C * n))
    _, dw, db = dense_backward(dz, c_dense)
    dw = dw + l2_backward(1.0, c_l2)
    out = (loss + penalty, dw, db)
    if not hessian:
        return out
    s = sigmoid_cross_entropy_hessian(c_loss) if k == 1 else softmax_cross_entropy_hessian(c_loss)
    h = linear_logit_hessian(x, s, bias=bias is not None)
    d_w = kernel.size
    h[np.arange(d_w), np.arange(d_w)] += 1.0 / (C * n)   # λ P: kernel entries come first
    return out + (h,)


class Network(NumpyNetwork):
    def forward_cache(self, params, x):
        return dense_forward(x, params["dense.kernel"], params["dense.bias"])

    def _loss_and_grads(self, params, x, y, **_):  # no dropout, no state: mode-free
        loss, dw, db = objective(params["dense.kernel"], params["dense.bias"], x, y,
                                 self.spec.C)
        return loss, {"dense.kernel": dw, "dense.bias": db}
