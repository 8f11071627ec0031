"""DenseNet, Keras."""

from __future__ import annotations

from models.adapters.keras_adapter import Dropout, KerasNetwork, keras


class DenseNet(keras.Model):
    def __init__(self, spec, *, dtype):
        super().__init__(name="densenet", dtype=dtype)
        # the spec's L2 penalty becomes each kernel's regularizer in the adapter
        self.dense1 = keras.layers.Dense(spec.n_hidden, name="dense1", dtype=dtype)
        self.bn = keras.layers.BatchNormalization(
            momentum=spec.momentum, epsilon=spec.eps, name="bn",
            dtype=dtype) if spec.batchnorm else None
        self.dropout = Dropout(spec.dropout_rate, name="dropout", dtype=dtype)
        self.dense2 = keras.layers.Dense(10, name="dense2", dtype=dtype)

    def call(self, x, training=False):
        h = self.dense1(x)
        if self.bn is not None:
            h = self.bn(h, training=training)
        h = keras.ops.relu(h)
        return self.dense2(self.dropout(h, training=training))


class Network(KerasNetwork):
    module = DenseNet
