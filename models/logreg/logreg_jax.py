"""Logistic regression, JAX/Flax (nnx): optax's cross-entropies plus the L2 term."""

from __future__ import annotations

from models.adapters.jax_adapter import JaxNetwork, jnp, nnx, optax


class LogReg(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.dense = nnx.Linear(spec.n_in, spec.n_out, dtype=dtype, param_dtype=dtype,
                                rngs=rngs)

    def __call__(self, x):
        return self.dense(x)


class Network(JaxNetwork):
    module = LogReg

    def loss(self, tree, x, y):
        z = self.apply(tree, x)
        if self.spec.binary:
            ce = optax.sigmoid_binary_cross_entropy(z[:, 0], y.astype(z.dtype))
        else:
            ce = optax.softmax_cross_entropy_with_integer_labels(z, y)
        w = tree["dense"]["kernel"]
        return ce.mean() + 0.5 / (self.spec.C * x.shape[0]) * jnp.sum(w * w)
