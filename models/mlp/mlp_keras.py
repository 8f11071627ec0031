"""MLP, Keras."""

from __future__ import annotations

from models.adapters.keras_adapter import KerasNetwork, keras


class MLP(keras.Model):
    def __init__(self, spec, *, dtype):
        super().__init__(name="mlp", dtype=dtype)
        self.dense1 = keras.layers.Dense(spec.n_hidden, activation="relu", name="dense1",
                                         dtype=dtype)
        self.dense2 = keras.layers.Dense(spec.n_out, name="dense2", dtype=dtype)

    def call(self, x):
        return self.dense2(self.dense1(x))


class Network(KerasNetwork):
    module = MLP
