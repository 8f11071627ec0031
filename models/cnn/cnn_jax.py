"""MNIST convnet, JAX/Flax (nnx)."""

from __future__ import annotations

import functools

from models.adapters.jax_accel import FastConv
from models.adapters.jax_adapter import Dropout, JaxNetwork, conv_relu, nnx


class CNN(nnx.Module):
    # pool, block: kernels.accel ops (impl=); None is Flax's own
    def __init__(self, spec, *, dtype, rngs, pool=None, block=None):
        kw = dict(kernel_size=(3, 3), padding="VALID", dtype=dtype, param_dtype=dtype,
                  rngs=rngs)
        self.conv1 = nnx.Conv(spec.channels, spec.filters1, **kw)
        self.conv2 = nnx.Conv(spec.filters1, spec.filters2, **kw)
        self.dropout = Dropout(spec.rate)        # keys come from the adapter (or a mask)
        self.dense = nnx.Linear(spec.features(), spec.n_out, dtype=dtype, param_dtype=dtype,
                                rngs=rngs)
        self.pool = pool or functools.partial(nnx.max_pool, window_shape=(2, 2), strides=(2, 2))
        self.block = block or conv_relu                        # relu(conv(x))

    def __call__(self, x):                                     # (n, 28, 28, 1) NHWC
        x = self.pool(self.block(self.conv1, x))
        x = self.pool(self.block(self.conv2, x))
        x = x.reshape(x.shape[0], -1)                          # flatten H, W, C
        return self.dense(self.dropout(x))


class Network(FastConv, JaxNetwork):  # impl="fast": kernels/accel/
    module = CNN
