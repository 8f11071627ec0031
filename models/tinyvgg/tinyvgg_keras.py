"""TinyVGG, Keras."""

from __future__ import annotations

from models.adapters.keras_adapter import KerasNetwork, keras


class TinyVGG(keras.Model):
    def __init__(self, spec, *, dtype):
        super().__init__(name="tinyvgg", dtype=dtype)
        conv = dict(kernel_size=3, padding=spec.padding, activation="relu", dtype=dtype)
        self.conv1 = keras.layers.Conv2D(spec.hidden, name="conv1", **conv)
        self.conv2 = keras.layers.Conv2D(spec.hidden, name="conv2", **conv)
        self.pool1 = keras.layers.MaxPooling2D(2, dtype=dtype)
        self.conv3 = keras.layers.Conv2D(spec.hidden, name="conv3", **conv)
        self.conv4 = keras.layers.Conv2D(spec.hidden, name="conv4", **conv)
        self.pool2 = keras.layers.MaxPooling2D(2, dtype=dtype)
        self.flatten = keras.layers.Flatten(dtype=dtype)            # H, W, C order
        self.dense = keras.layers.Dense(spec.n_out, name="dense", dtype=dtype)

    def call(self, x):                                              # (n, S, S, C) NHWC
        x = self.pool1(self.conv2(self.conv1(x)))
        x = self.pool2(self.conv4(self.conv3(x)))
        return self.dense(self.flatten(x))


class Network(KerasNetwork):
    module = TinyVGG
