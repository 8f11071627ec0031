"""MLP n_in -> n_hidden (ReLU) -> n_out (softmax), trained with softmax cross-entropy.

Canonical parameters (dense kernels are (in, out) in every backend but torch):

=================  =====================
dense1.kernel      (n_in, n_hidden)
dense1.bias        (n_hidden,)
dense2.kernel      (n_hidden, n_out)
dense2.bias        (n_out,)
=================  =====================

Which quirks of the classic NumPy notebook are kept:

* **kept**: the init, every weight and bias uniform in [-0.5, 0.5] (``W = rand - 0.5``),
  so a run here starts where the notebook's did;
* **not kept**: the scalar bias gradient (``db = np.sum(dZ)`` adds every unit's gradient
  into one number; it is a bug, and no framework's autodiff computes it) and the softmax
  without the maximum subtracted (it overflows to NaN once logits pass ~709 in float64 and
  ~88 in float32).  The reference and every backend compute the true gradient of the
  stable loss instead.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from models._spec import NAN_RELU_GRADIENT, Spec, check_dtype


@dataclasses.dataclass(frozen=True)
class MLPSpec(Spec):
    name = "mlp"
    #: the parity suite's small config and batch sizes (mlsandbox/testing/cases.py)
    parity = {"config": {"n_in": 784}, "sizes": (1, 7, 256)}
    conventions = (NAN_RELU_GRADIENT,)

    n_in: int = 784
    n_hidden: int = 10
    n_out: int = 10
    init_scale: float = 0.5

    def __post_init__(self):
        self.check_positive_ints("n_in", "n_hidden", "n_out")
        self.check_finite("init_scale")
        if self.init_scale < 0:
            raise ValueError(f"mlp: init_scale must be >= 0, got {self.init_scale!r}")

    @property
    def n_classes(self) -> int:
        return self.n_out

    def input_shape(self):
        return (self.n_in,)

    def param_shapes(self):
        return {
            "dense1.kernel": (self.n_in, self.n_hidden),
            "dense1.bias": (self.n_hidden,),
            "dense2.kernel": (self.n_hidden, self.n_out),
            "dense2.bias": (self.n_out,),
        }

    def init(self, seed=0, dtype="float64"):
        """Every parameter uniform in [-init_scale, init_scale] (the notebook's ``rand - 0.5``)."""
        dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        s = self.init_scale
        return {k: rng.uniform(-s, s, size=shape).astype(dtype)
                for k, shape in self.param_shapes().items()}
