"""MLP, NumPy reference: the forward pass and its hand-derived backward pass.

Forward, for a batch X (n, n_in):
    Z1 = X W1 + b1        (n, n_hidden)
    A1 = relu(Z1)
    Z2 = A1 W2 + b2       (n, n_out)       the logits
    L  = mean_n CE(softmax(Z2), onehot(y))
Backward:
    dZ2 = (softmax(Z2) - onehot(y)) / n
    dW2 = A1ᵀ dZ2,  db2 = Σ_n dZ2,  dA1 = dZ2 W2ᵀ
    dZ1 = dA1 · 1[Z1 > 0]
    dW1 = Xᵀ dZ1,   db1 = Σ_n dZ1
"""

from __future__ import annotations

from kernels import dense_backward, dense_forward, relu_backward, relu_forward
from models.adapters.numpy_adapter import NumpyNetwork


class Network(NumpyNetwork):
    def forward_cache(self, params, x, *, train=False, masks=None):  # no mode-dependent layer
        z1, c1 = dense_forward(x, params["dense1.kernel"], params["dense1.bias"])
        a1, c_relu = relu_forward(z1)
        z2, c2 = dense_forward(a1, params["dense2.kernel"], params["dense2.bias"])
        return z2, (c1, c_relu, c2)

    def backward(self, dz2, cache):
        c1, c_relu, c2 = cache
        da1, dw2, db2 = dense_backward(dz2, c2)
        dz1 = relu_backward(da1, c_relu)
        _, dw1, db1 = dense_backward(dz1, c1)
        return {"dense1.kernel": dw1, "dense1.bias": db1,
                "dense2.kernel": dw2, "dense2.bias": db2}
