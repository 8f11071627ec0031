"""TinyVGG, NumPy reference: composed of the conv, ReLU, max-pool, flatten and dense kernels.

Forward, for a batch X (n, S, S, C) NHWC:
    A1 = relu(conv(X, K1) + b1);  A2 = relu(conv(A1, K2) + b2);  P1 = maxpool2(A2)
    A3 = relu(conv(P1, K3) + b3); A4 = relu(conv(A3, K4) + b4);  P2 = maxpool2(A4)
    Z  = flatten(P2) W + b        (n, n_out), flatten in H, W, C order
Backward: the chain rule in reverse, each step one kernel's backward
(``kernels/conv.py``, ``kernels/pool.py``, ``kernels/dense.py``):
    dF, dW, db = dense_backward(dZ);  dP2 = unflatten(dF)
    dA4 = maxpool_backward(dP2)  (the first maximum of each window gets it)
    dZ4 = dA4 · 1[Z4 > 0];  dA3, dK4, db4 = conv_backward(dZ4);  ... down to dK1, db1.
"""

from __future__ import annotations

from kernels import dense_backward, dense_forward, relu_backward, relu_forward
from kernels.conv import conv2d_backward, conv2d_forward
from kernels.pool import flatten_backward, flatten_forward, maxpool2d_backward, maxpool2d_forward
from models.adapters.numpy_adapter import NumpyNetwork
from models.tinyvgg.spec import LAYERS


class Network(NumpyNetwork):
    def forward_cache(self, params, x, **mode):
        caches = []
        for i, layer in enumerate(LAYERS):
            z, c_conv = conv2d_forward(x, params[f"{layer}.kernel"], params[f"{layer}.bias"],
                                       padding=self.spec.padding)
            x, c_relu = relu_forward(z)
            caches.append((c_conv, c_relu))
            if i % 2 == 1:
                x, c_pool = maxpool2d_forward(x, 2)
                caches.append(c_pool)
        f, c_flat = flatten_forward(x)
        logits, c_dense = dense_forward(f, params["dense.kernel"], params["dense.bias"])
        return logits, (caches, c_flat, c_dense)

    def backward(self, dlogits, cache):
        caches, c_flat, c_dense = cache
        grads = {}
        df, grads["dense.kernel"], grads["dense.bias"] = dense_backward(dlogits, c_dense)
        dx = flatten_backward(df, c_flat)
        caches = list(caches)
        for i, layer in reversed(list(enumerate(LAYERS))):
            if i % 2 == 1:
                dx = maxpool2d_backward(dx, caches.pop())
            c_conv, c_relu = caches.pop()
            dz = relu_backward(dx, c_relu)
            dx, grads[f"{layer}.kernel"], grads[f"{layer}.bias"] = conv2d_backward(dz, c_conv)
        return grads
