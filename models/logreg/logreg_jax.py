"""Logistic regression, JAX/Flax (nnx): one ``nnx.Linear``; the loss and the L2 term are
the spec's objective (optax's cross-entropies in the adapter)."""

from __future__ import annotations

from models.adapters.jax_adapter import JaxNetwork, nnx


class LogReg(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.dense = nnx.Linear(spec.n_in, spec.n_out, dtype=dtype, param_dtype=dtype,
                                rngs=rngs)

    def __call__(self, x):
        return self.dense(x)


class Network(JaxNetwork):
    module = LogReg
