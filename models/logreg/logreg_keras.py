"""Logistic regression, Keras: a ``Dense`` layer and Keras's cross-entropies plus the L2
term (written out, not ``regularizers.L2``: its λ would have to change with the batch)."""

from __future__ import annotations

from models.adapters.keras_adapter import KerasNetwork, keras


class LogReg(keras.Model):
    def __init__(self, spec, *, dtype):
        super().__init__(name="logreg", dtype=dtype)
        self.dense = keras.layers.Dense(spec.n_out, name="dense", dtype=dtype)

    def call(self, x):
        return self.dense(x)


class Network(KerasNetwork):
    module = LogReg

    def loss_fn(self, dtype: str):
        ops = keras.ops
        kernel = self.model(dtype).dense.kernel
        if self.spec.binary:
            bce = keras.losses.BinaryCrossentropy(from_logits=True, dtype=dtype)
            ce = lambda y, z: bce(ops.cast(y[:, None], dtype), z)  # noqa: E731
        else:
            ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=dtype)

        def loss(y, z):
            n = ops.cast(ops.shape(z)[0], dtype)
            return ce(y, z) + 0.5 / (self.spec.C * n) * ops.sum(kernel * kernel)

        return loss
