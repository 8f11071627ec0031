"""MNIST convnet, NumPy reference: conv, ReLU, max-pool, flatten, dropout, dense kernels.

Forward, for X (n, 28, 28, 1) NHWC:
    A1 = relu(conv(X, K1) + b1)     (n, 26, 26, 32);  P1 = maxpool2(A1)   (n, 13, 13, 32)
    A2 = relu(conv(P1, K2) + b2)    (n, 11, 11, 64);  P2 = maxpool2(A2)   (n, 5, 5, 64)
    F  = flatten(P2)                (n, 1600), H, W, C order
    D  = F · m / (1 - rate)         train mode with mask m; D = F in eval mode
    Z  = D W + b                    (n, 10), the logits
Backward, each step one kernel's backward:
    dD, dW, db = dense_backward(dZ);  dF = dD · m / (1 - rate);  dP2 = unflatten(dF)
    dA2 = maxpool_backward(dP2);  dZ2 = dA2 · 1[Z2 > 0];  dP1, dK2, db2 = conv_backward(dZ2)
    dA1 = maxpool_backward(dP1);  dZ1 = dA1 · 1[Z1 > 0];  _, dK1, db1 = conv_backward(dZ1)
In train mode the adapter passes the dropout mask (the batch's, or one drawn from the
run's seed and step: the rule of :mod:`models._network`).
"""

from __future__ import annotations


from kernels import dense_backward, dense_forward, relu_backward, relu_forward
from kernels.conv import conv2d_backward, conv2d_forward
from kernels.dropout import dropout_backward, dropout_forward
from kernels.pool import flatten_backward, flatten_forward, maxpool2d_backward, maxpool2d_forward
from models.adapters.numpy_adapter import NumpyNetwork


class Network(NumpyNetwork):
    def forward_cache(self, params, x, *, train=False, masks=None):
        caches = []
        for layer in ("conv1", "conv2"):
            z, c_conv = conv2d_forward(x, params[f"{layer}.kernel"], params[f"{layer}.bias"])
            a, c_relu = relu_forward(z)
            x, c_pool = maxpool2d_forward(a, 2)
            caches.append((c_conv, c_relu, c_pool))
        f, c_flat = flatten_forward(x)
        mask = masks.get("dropout") if train and masks else None   # the adapter's masks
        d, c_drop = dropout_forward(f, mask, self.spec.rate)
        logits, c_dense = dense_forward(d, params["dense.kernel"], params["dense.bias"])
        return logits, (caches, c_flat, c_drop, c_dense)

    def backward(self, dlogits, cache):
        caches, c_flat, c_drop, c_dense = cache
        grads = {}
        dd, grads["dense.kernel"], grads["dense.bias"] = dense_backward(dlogits, c_dense)
        dx = flatten_backward(dropout_backward(dd, c_drop), c_flat)
        for layer, (c_conv, c_relu, c_pool) in reversed(list(zip(("conv1", "conv2"), caches))):
            dz = relu_backward(maxpool2d_backward(dx, c_pool), c_relu)
            dx, grads[f"{layer}.kernel"], grads[f"{layer}.bias"] = conv2d_backward(dz, c_conv)
        return grads
