"""Text classifier, JAX/Flax (nnx)."""

from __future__ import annotations

from models.adapters.jax_adapter import Dropout, JaxNetwork, jnp, nnx


class TextClf(nnx.Module):
    def __init__(self, spec, *, dtype, rngs):
        self.embedding = nnx.Embed(spec.vocab_size, spec.embedding_dim, dtype=dtype,
                                   param_dtype=dtype, rngs=rngs)
        self.dropout = Dropout(spec.dropout_rate)
        self.dense1 = nnx.Linear(spec.embedding_dim, spec.hidden, dtype=dtype,
                                 param_dtype=dtype, rngs=rngs)
        self.dense2 = nnx.Linear(spec.hidden, 1, dtype=dtype, param_dtype=dtype, rngs=rngs)

    def __call__(self, x):                                      # (n, T) ids, 0 = padding
        e = self.embedding(x)                                   # (n, T, d)
        m = (x != 0).astype(e.dtype)[..., None]
        pooled = (e * m).sum(1) / jnp.maximum(m.sum(1), 1)      # masked mean, (n, d)
        return self.dense2(nnx.relu(self.dense1(self.dropout(pooled))))


class Network(JaxNetwork):
    module = TextClf
    #: nnx.Embed calls its table "embedding"
    NAMES = {"embedding.embeddings": "embedding.embedding"}
