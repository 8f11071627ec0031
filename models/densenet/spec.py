"""The Keras-style MNIST dense net (the "hello world" of ``keras.Sequential``)::

    x (n, 784) -> Dense(128) [-> BatchNorm] -> ReLU -> Dropout(rate) -> Dense(10) -> logits

with an optional L2 penalty ``l2 · (Σ W1² + Σ W2²)`` on the kernels (Keras
``kernel_regularizer=regularizers.l2(l2)``, so its gradient is ``2·l2·W``).

Canonical parameters (Keras names; ``bn.*`` only with ``batchnorm=True``):

=====================  ===========  =======================================
dense1.kernel          (784, 128)
dense1.bias            (128,)
bn.gamma, bn.beta      (128,)       trainable
bn.moving_mean         (128,)       state (:meth:`state_names`), no gradient
bn.moving_variance     (128,)       state; biased batch variance (Keras, Flax)
dense2.kernel          (128, 10)
dense2.bias            (10,)
=====================  ===========  =======================================

Batch norm uses ``momentum`` as Keras and Flax do (weight of the old running value;
torch gets ``1 - momentum``) and the same ``eps`` in every framework.  Torch's running
variance is the unbiased one, a convention below.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from models._spec import NAN_RELU_GRADIENT, Convention, Objective, Penalty, Spec, check_dtype


@dataclasses.dataclass(frozen=True)
class DenseNetSpec(Spec):
    name = "densenet"
    #: the parity suite's small config and batch sizes (mlsandbox/testing/cases.py)
    parity = {"config": {"batchnorm": True, "l2": 1e-3}, "sizes": (1, 7, 32)}
    n_classes = 10

    n_in: int = 784
    n_hidden: int = 128
    dropout_rate: float = 0.2
    batchnorm: bool = False
    l2: float = 0.0
    momentum: float = 0.99
    eps: float = 1e-3

    conventions = (
        NAN_RELU_GRADIENT,
        Convention(
            topic="BatchNorm running variance",
            frameworks="torch vs NumPy/Keras/Flax",
            difference="torch stores the unbiased batch variance σ²·n/(n-1) in running_var "
                       "(it normalizes with the biased one); Keras and Flax store the biased",
            size="measured by parity/test_regularization.py::test_torch_running_var_is_unbiased",
            setting="none in torch; the NumPy reference computes torch's with "
                    "batchnorm_forward(unbiased=True)"),
        Convention(
            topic="BatchNorm momentum",
            frameworks="torch vs Keras/Flax",
            difference="torch momentum is the weight of the new statistic (0.1), Keras/Flax "
                       "the weight of the old (0.99)",
            size="0 once mapped",
            setting="torch gets momentum = 1 - spec.momentum"),
        Convention(
            topic="L2 penalty",
            frameworks="Keras vs torch",
            difference="regularizers.l2(λ) adds λΣw² to the loss (gradient 2λw); torch "
                       "weight_decay=λ adds λw to the gradient",
            size="factor 2 in the decay",
            setting="torch weight_decay = 2λ equals Keras l2(λ) under plain SGD"),
    )

    def __post_init__(self):
        self.check_positive_ints("n_in", "n_hidden")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"densenet: dropout_rate must lie in [0, 1), got {self.dropout_rate}")
        self.check_finite("dropout_rate", "l2", "momentum", "eps")
        if self.l2 < 0:
            raise ValueError(f"densenet: l2 must be >= 0, got {self.l2}")
        if not self.eps > 0:
            raise ValueError(f"densenet: eps must be > 0, got {self.eps}")
        if not 0.0 < self.momentum < 1.0:
            raise ValueError(f"densenet: momentum must lie in (0, 1), got {self.momentum}")

    def input_shape(self):
        return (self.n_in,)

    def param_shapes(self):
        h = self.n_hidden
        shapes = {"dense1.kernel": (self.n_in, h), "dense1.bias": (h,)}
        if self.batchnorm:
            shapes.update({"bn.gamma": (h,), "bn.beta": (h,), "bn.moving_mean": (h,),
                           "bn.moving_variance": (h,)})
        shapes.update({"dense2.kernel": (h, self.n_classes), "dense2.bias": (self.n_classes,)})
        return shapes

    def state_names(self):
        return ("bn.moving_mean", "bn.moving_variance") if self.batchnorm else ()

    def dropout(self):
        return {"dropout": self.dropout_rate} if self.dropout_rate > 0 else {}

    def mask_shape(self, name):
        return (self.n_hidden,)

    def objective(self):
        """Softmax cross-entropy plus Keras's ``l2(λ)`` on both kernels (none at λ = 0)."""
        if not self.l2:
            return Objective()
        return Objective(penalties=(Penalty("l2", ("dense1.kernel", "dense2.kernel"),
                                            self.l2),))

    def init(self, seed=0, dtype="float64"):
        """Glorot-uniform kernels (Keras's default); biases, γ, β and the running
        statistics random too, so that no parity check passes by a 0 or a 1."""
        dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        out = {}
        for k, shape in self.param_shapes().items():
            if k.endswith("kernel"):
                lim = np.sqrt(6.0 / (shape[0] + shape[1]))
                a = rng.uniform(-lim, lim, shape)
            elif k in ("bn.gamma", "bn.moving_variance"):
                a = rng.uniform(0.5, 1.5, shape)
            else:
                a = 0.1 * rng.standard_normal(shape)
            out[k] = a.astype(dtype)
        return out
