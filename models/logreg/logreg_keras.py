"""Logistic regression, Keras: one ``Dense`` layer; the loss and the L2 term are the spec's
objective (Keras's cross-entropies in the adapter; the penalty scales with the batch, so
the adapter writes it out instead of a ``regularizers.L2``, whose λ is fixed)."""

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
