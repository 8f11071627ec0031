"""The MNIST convnet of Keras's "Simple MNIST convnet" example:

    conv 32 3x3 → ReLU → max-pool 2 → conv 64 3x3 → ReLU → max-pool 2 → flatten
    → dropout 0.5 → dense 10

on 28x28x1 images: 28 → 26 → 13 → 11 → 5, so 5·5·64 = 1600 features reach the dropout.
Keras's example ends in ``Dense(10, activation="softmax")`` with categorical
cross-entropy; here the network returns logits and the loss applies the softmax (the
same function, computed stably).

Canonical parameters (HWIO, (in, out)):

=============  =================
conv1.kernel   (3, 3, 1, 32)
conv1.bias     (32,)
conv2.kernel   (3, 3, 32, 64)
conv2.bias     (64,)
dense.kernel   (1600, 10)        rows in H, W, C order (the canonical flatten)
dense.bias     (10,)
=============  =================

Dropout layer ``"dropout"`` (rate 0.5) acts on the (n, 1600) flattened features; a
train-mode batch may inject its 0/1 mask as ``batch["masks"]["dropout"]``.

Init: Keras's default, the example's: kernels glorot-uniform, ``U(±√(6/(fan_in +
fan_out)))`` with fan = kh·kw·channels for convolutions, biases zero.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kernels.conv import conv2d_output_size
from models._spec import NAN_IN_MAX_POOL, NAN_RELU_GRADIENT, Spec, check_dtype


@dataclasses.dataclass(frozen=True)
class CNNSpec(Spec):
    name = "cnn"
    #: the parity suite's small config and batch sizes (mlsandbox/testing/cases.py)
    parity = {"config": {"image_size": 16}, "sizes": (1, 3)}  # 28x28: test_conv_networks
    conventions = (NAN_IN_MAX_POOL, NAN_RELU_GRADIENT)

    image_size: int = 28
    channels: int = 1
    filters1: int = 32
    filters2: int = 64
    n_out: int = 10
    rate: float = 0.5

    def __post_init__(self):
        self.check_positive_ints("image_size", "channels", "filters1", "filters2", "n_out")
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"cnn: dropout rate must be in [0, 1), got {self.rate!r}")
        if self.side() < 1:
            raise ValueError(f"cnn: a {self.image_size}x{self.image_size} image is too small")

    @property
    def n_classes(self) -> int:
        return self.n_out

    def side(self) -> int:
        """Height (= width) of the feature map that is flattened (5 for 28x28)."""
        s = self.image_size
        for _ in range(2):
            s = conv2d_output_size((s, s), 3, 1, "valid")[0] // 2
        return s

    def features(self) -> int:
        return self.side() ** 2 * self.filters2

    def input_shape(self):
        return (self.image_size, self.image_size, self.channels)

    def dropout(self):
        return {"dropout": self.rate}

    def mask_shape(self, name):
        return (self.features(),)

    def param_shapes(self):
        return {
            "conv1.kernel": (3, 3, self.channels, self.filters1),
            "conv1.bias": (self.filters1,),
            "conv2.kernel": (3, 3, self.filters1, self.filters2),
            "conv2.bias": (self.filters2,),
            "dense.kernel": (self.features(), self.n_out),
            "dense.bias": (self.n_out,),
        }

    def init(self, seed=0, dtype="float64"):
        """Keras's default: glorot-uniform kernels, zero biases."""
        dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        out = {}
        for k, shape in self.param_shapes().items():
            if k.endswith("bias"):
                out[k] = np.zeros(shape, dtype=dtype)
                continue
            receptive = int(np.prod(shape[:-2]))
            limit = np.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
            out[k] = rng.uniform(-limit, limit, size=shape).astype(dtype)
        return out

