"""MLP, JAX/Flax (nnx)."""

from __future__ import annotations

from models.adapters.jax_accel import FusedMLP
from models.adapters.jax_adapter import JaxNetwork, nnx


class MLP(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.dense1 = nnx.Linear(spec.n_in, spec.n_hidden, dtype=dtype, param_dtype=dtype,
                                 rngs=rngs)
        self.dense2 = nnx.Linear(spec.n_hidden, spec.n_out, dtype=dtype, param_dtype=dtype,
                                 rngs=rngs)

    def __call__(self, x):
        return self.dense2(nnx.relu(self.dense1(x)))


class Network(FusedMLP, JaxNetwork):  # impl="fused": kernels/accel/mlp.py
    module = MLP
