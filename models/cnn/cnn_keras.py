"""MNIST convnet, Keras (the example's layers, logits out)."""

from __future__ import annotations

from models.adapters.keras_adapter import Dropout, KerasNetwork, keras


class CNN(keras.Model):
    def __init__(self, spec, *, dtype):
        super().__init__(name="cnn", dtype=dtype)
        self.conv1 = keras.layers.Conv2D(spec.filters1, 3, activation="relu", name="conv1",
                                         dtype=dtype)
        self.pool1 = keras.layers.MaxPooling2D(2, dtype=dtype)
        self.conv2 = keras.layers.Conv2D(spec.filters2, 3, activation="relu", name="conv2",
                                         dtype=dtype)
        self.pool2 = keras.layers.MaxPooling2D(2, dtype=dtype)
        self.flatten = keras.layers.Flatten(dtype=dtype)        # H, W, C order
        self.dropout = Dropout(spec.rate, name="dropout", dtype=dtype)
        self.dense = keras.layers.Dense(spec.n_out, name="dense", dtype=dtype)

    def call(self, x, training=False):                          # (n, 28, 28, 1) NHWC
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        return self.dense(self.dropout(self.flatten(x), training=training))


class Network(KerasNetwork):
    module = CNN
