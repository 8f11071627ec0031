"""TinyVGG: [conv 3x3 → ReLU → conv 3x3 → ReLU → max-pool 2] x 2 → flatten → dense.

As in the popular PyTorch course (its section 04, ``TinyVGG(input_shape=3,
hidden_units=10, output_shape=3)`` on 64x64 RGB pizza/steak/sushi photos, padding 0;
its section 03 ran the same blocks with padding 1 on 28x28 Fashion-MNIST).

Canonical parameters (HWIO conv kernels, (in, out) dense kernel; torch transposes):

=============  ===============================  =========================================
conv1.kernel   (3, 3, channels, hidden)         conv1.bias, conv2.bias, ...: (hidden,)
conv2.kernel   (3, 3, hidden, hidden)
conv3.kernel   (3, 3, hidden, hidden)
conv4.kernel   (3, 3, hidden, hidden)
dense.kernel   (side·side·hidden, n_out)        side = 13 for 64x64 'valid', 7 for 28 'same'
dense.bias     (n_out,)
=============  ===============================  =========================================

The rows of ``dense.kernel`` follow the canonical flatten, H, W, C order (C fastest), as
Keras's and Flax's ``Flatten`` produce from NHWC.  torch's ``nn.Flatten`` on NCHW gives C,
H, W order; the torch file permutes to NHWC before flattening, so its dense weight is a
plain transpose (see ``tinyvgg_torch.py``).

Init: torch's default for ``nn.Conv2d`` and ``nn.Linear``, the course's init: weight and
bias uniform in ±1/√fan_in (kaiming-uniform with a=√5), fan_in = kh·kw·C_in or d_in.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kernels.conv import conv2d_output_size
from models._spec import NAN_IN_MAX_POOL, NAN_RELU_GRADIENT, Spec, check_dtype

LAYERS = ("conv1", "conv2", "conv3", "conv4")


@dataclasses.dataclass(frozen=True)
class TinyVGGSpec(Spec):
    name = "tinyvgg"
    #: the parity suite's small config and batch sizes (mlsandbox/testing/cases.py)
    parity = {"config": {"image_size": 20}, "sizes": (1, 3)}  # 64x64: test_conv_networks
    conventions = (NAN_IN_MAX_POOL, NAN_RELU_GRADIENT)

    image_size: int = 64
    channels: int = 3
    hidden: int = 10
    n_out: int = 3
    padding: str = "valid"

    def __post_init__(self):
        self.check_positive_ints("image_size", "channels", "hidden", "n_out")
        if self.padding not in ("valid", "same"):
            raise ValueError(f"tinyvgg: padding must be 'valid' (the course's padding=0) or "
                             f"'same' (padding=1), got {self.padding!r}")
        if self.side() < 1:
            raise ValueError(f"tinyvgg: a {self.image_size}x{self.image_size} image is too "
                             f"small for two blocks with padding {self.padding!r}")

    @property
    def n_classes(self) -> int:
        return self.n_out

    def side(self) -> int:
        """Height (= width) of the feature map that is flattened."""
        s = self.image_size
        for _ in range(2):
            for _ in range(2):
                s = conv2d_output_size((s, s), 3, 1, self.padding)[0]
            s //= 2
        return s

    def input_shape(self):
        return (self.image_size, self.image_size, self.channels)

    def param_shapes(self):
        shapes = {}
        for i, layer in enumerate(LAYERS):
            shapes[f"{layer}.kernel"] = (3, 3, self.channels if i == 0 else self.hidden,
                                         self.hidden)
            shapes[f"{layer}.bias"] = (self.hidden,)
        shapes["dense.kernel"] = (self.side() ** 2 * self.hidden, self.n_out)
        shapes["dense.bias"] = (self.n_out,)
        return shapes

    def init(self, seed=0, dtype="float64"):
        """torch's default init: every weight and bias uniform in ±1/√fan_in."""
        dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        shapes = self.param_shapes()
        out = {}
        for k, shape in shapes.items():
            layer = k.split(".")[0]
            fan_in = int(np.prod(shapes[f"{layer}.kernel"][:-1]))
            bound = 1.0 / np.sqrt(fan_in)
            out[k] = rng.uniform(-bound, bound, size=shape).astype(dtype)
        return out
