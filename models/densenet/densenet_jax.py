"""DenseNet, JAX/Flax (nnx)."""

from __future__ import annotations

from models.adapters.jax_adapter import Dropout, JaxNetwork, nnx


class DenseNet(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.dense1 = nnx.Linear(spec.n_in, spec.n_hidden, dtype=dtype, param_dtype=dtype,
                                 rngs=rngs)
        # the exact two-pass variance (nnx's default E[x²]-E[x]² loses digits)
        self.bn = nnx.BatchNorm(spec.n_hidden, momentum=spec.momentum, epsilon=spec.eps,
                                use_fast_variance=False, dtype=dtype, param_dtype=dtype,
                                rngs=rngs) if spec.batchnorm else None
        self.dropout = Dropout(spec.dropout_rate)
        self.dense2 = nnx.Linear(spec.n_hidden, 10, dtype=dtype, param_dtype=dtype, rngs=rngs)

    def __call__(self, x):
        h = self.dense1(x)
        if self.bn is not None:
            h = self.bn(h)
        return self.dense2(self.dropout(nnx.relu(h)))


class Network(JaxNetwork):
    module = DenseNet
    #: nnx.BatchNorm calls them scale, bias, mean, var.
    NAMES = {"bn.gamma": "bn.scale", "bn.beta": "bn.bias", "bn.moving_mean": "bn.mean",
             "bn.moving_variance": "bn.var"}
