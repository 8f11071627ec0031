"""Logistic regression, NumPy reference: the logits of one dense layer.

Forward, for a batch X (n, d), kernel W (d, k), bias b (k,) (k = 1 for two classes):
    Z = X W + b                                   (n, k)  the logits
Backward: dW = Xᵀ dZ, db = Σ_i dZ_i.  The loss and the L2 penalty are the spec's
objective (sigmoid or softmax cross-entropy plus ‖W‖²/(2Cn)), applied by the adapter;
:func:`kernels.logistic.logistic_objective` derives the same objective with its
Hessian for the Newton solvers.
"""

from __future__ import annotations

from kernels import dense_backward, dense_forward
from models.adapters.numpy_adapter import NumpyNetwork


class Network(NumpyNetwork):
    def forward_cache(self, params, x, *, train=False, masks=None):  # no mode-dependent layer
        return dense_forward(x, params["dense.kernel"], params["dense.bias"])

    def backward(self, dz, cache):
        _, dw, db = dense_backward(dz, cache)
        return {"dense.kernel": dw, "dense.bias": db}
