"""TinyVGG, JAX/Flax (nnx)."""

from __future__ import annotations

import functools

from models.adapters.jax_accel import FastConv
from models.adapters.jax_adapter import JaxNetwork, conv_relu, nnx


class TinyVGG(nnx.Module):
    # pool, block: kernels.accel ops (impl=); None is Flax's own
    def __init__(self, spec, *, dtype, rngs, pool=None, block=None):
        conv = functools.partial(nnx.Conv, kernel_size=(3, 3), padding=spec.padding.upper(),
                                 dtype=dtype, param_dtype=dtype, rngs=rngs)
        self.conv1 = conv(spec.channels, spec.hidden)
        self.conv2 = conv(spec.hidden, spec.hidden)
        self.conv3 = conv(spec.hidden, spec.hidden)
        self.conv4 = conv(spec.hidden, spec.hidden)
        self.dense = nnx.Linear(spec.side() ** 2 * spec.hidden, spec.n_out, dtype=dtype,
                                param_dtype=dtype, rngs=rngs)
        self.pool = pool or functools.partial(nnx.max_pool, window_shape=(2, 2), strides=(2, 2))
        self.block = block or conv_relu                        # relu(conv(x))

    def __call__(self, x):                                     # (n, S, S, C) NHWC
        x = self.block(self.conv2, self.block(self.conv1, x))
        x = self.pool(x)
        x = self.block(self.conv4, self.block(self.conv3, x))
        x = self.pool(x)
        return self.dense(x.reshape(x.shape[0], -1))           # flatten H, W, C


class Network(FastConv, JaxNetwork):  # impl="fast": kernels/accel/
    module = TinyVGG
