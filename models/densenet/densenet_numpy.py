"""DenseNet, NumPy reference: forward and hand-derived backward, composed of kernels.

Forward (batch X (n, 784)):
    Z1 = X W1 + b1;  H = BN(Z1) (train: batch statistics) or Z1;  A = relu(H)
    D = A · mask / (1 - rate) in train mode (inverted dropout), A in eval mode
    Z2 = D W2 + b2 (logits);  L = mean CE + l2 (Σ W1² + Σ W2²)  (the spec's objective,
    applied by the adapter)
Backward:
    dZ2 = (softmax(Z2) - onehot(y)) / n;  dW2 = Dᵀ dZ2 (+ 2·l2·W2);  dD = dZ2 W2ᵀ
    dA = dD · mask / (1 - rate);  dH = dA · 1[H > 0];  dZ1 = BN backward (kernels)
    dW1 = Xᵀ dZ1 (+ 2·l2·W1)
"""

from __future__ import annotations

from kernels import dense_backward, dense_forward, relu_backward, relu_forward
from kernels.regularization import (batchnorm_backward, batchnorm_forward, dropout_backward,
                                    dropout_forward)
from models.adapters.numpy_adapter import NumpyNetwork


class Network(NumpyNetwork):
    #: True computes torch's running variance (unbiased); Keras and Flax store the biased.
    unbiased_running_var = False

    def forward_cache(self, params, x, *, train=False, masks=None):
        s = self.spec
        z1, c1 = dense_forward(x, params["dense1.kernel"], params["dense1.bias"])
        c_bn, state = None, {}
        if s.batchnorm:
            z1, mean, var, c_bn = batchnorm_forward(
                z1, params["bn.gamma"], params["bn.beta"], params["bn.moving_mean"],
                params["bn.moving_variance"], train=train, momentum=s.momentum, eps=s.eps,
                unbiased=self.unbiased_running_var)
            state = {"bn.moving_mean": mean, "bn.moving_variance": var}
        a, c_relu = relu_forward(z1)
        mask = masks.get("dropout") if train and masks else None   # the adapter's masks
        d, c_drop = dropout_forward(a, mask, s.dropout_rate)
        z2, c2 = dense_forward(d, params["dense2.kernel"], params["dense2.bias"])
        return z2, (c1, c_bn, c_relu, c_drop, c2, state)

    def backward(self, dz2, cache):
        c1, c_bn, c_relu, c_drop, c2, _ = cache
        dd, dw2, db2 = dense_backward(dz2, c2)
        dz1 = relu_backward(dropout_backward(dd, c_drop), c_relu)
        grads = {}
        if c_bn is not None:
            dz1, grads["bn.gamma"], grads["bn.beta"] = batchnorm_backward(dz1, c_bn)
        _, dw1, db1 = dense_backward(dz1, c1)
        grads.update({"dense1.kernel": dw1, "dense1.bias": db1,
                      "dense2.kernel": dw2, "dense2.bias": db2})
        return grads

    def state_update(self, cache):
        return cache[-1]
