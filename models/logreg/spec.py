"""Logistic regression as a network: one dense layer, sigmoid or softmax cross-entropy,
an L2 penalty on the kernel with scikit-learn's ``C``.

Canonical parameters (the kernel is (in, out) in every backend but torch):

=================  =====================
dense.kernel       (n_in, n_out)
dense.bias         (n_out,)
=================  =====================

``n_out`` is 1 for two classes (the logit of class 1, sigmoid cross-entropy: scikit-learn's
binary model, ``coef_`` of shape (1, n_in)) and ``n_classes`` otherwise (softmax over all
classes, scikit-learn's multinomial model, ``coef_`` (n_classes, n_in)).  ``forward``
returns these (n, n_out) logits.

The loss of ``loss_and_grads`` (the same in every backend), for a batch of n examples::

    L(W, b) = (1/n) Σ_i CE(z_i, y_i) + ‖W‖² / (2 C n)

the mean cross-entropy plus the L2 term.  It is scikit-learn's objective
``C Σ_i CE_i + ½‖W‖²`` divided by ``C n`` (the form its lbfgs solver minimizes, with
``l2_reg_strength = 1 / (C n)``), so the minimizer is scikit-learn's ``coef_`` and
``intercept_``; the bias is not penalized.  The penalty uses the batch's own n, so a
mini-batch step is a step on its own batch's objective.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from kernels.logistic import l2_strength
from models._spec import Convention, Objective, Penalty, Spec, check_dtype


def n_strength(C: float) -> float:
    """The per-example strength ``n · l2_strength(C, n) = 1/(2C)``."""
    return l2_strength(C, 1)


@dataclasses.dataclass(frozen=True)
class LogRegSpec(Spec):
    name = "logreg"
    #: the parity suite's small config and batch sizes (mlsandbox/testing/cases.py)
    parity = {"config": {"n_in": 30, "n_classes": 2, "C": 0.5}, "sizes": (1, 7, 569)}
    conventions = (
        Convention(
            topic="L2 strength",
            frameworks="scikit-learn, Keras, torch, optax",
            difference="scikit-learn minimizes C·ΣCE + ½‖W‖²; Keras regularizers.L2(l2) adds "
                       "l2·Σw² to the loss; torch weight_decay=λ and optax "
                       "add_decayed_weights(λ) add λ·w to the gradient",
            size="same minimizer once converted; Keras L2(1/(C n)) would double the "
                 "penalty, and Keras rounds l2 through float32 (3.6e-10 in a float64 loss)",
            setting="our mean-loss form ‖W‖²/(2Cn) = Keras L2(1/(2Cn)) "
                    "(spec.l2_strength(n)) = torch/optax decay 1/(Cn); "
                    "parity/test_logreg_conventions.py"),
        Convention(
            topic="scikit-learn lbfgs stopping",
            frameworks="scikit-learn",
            difference="lbfgs stops on a function-change test (ftol = 64·eps) before its "
                       "gradient tol; the coefficients are not the optimum's",
            size="1.1e-6 at C=1, 7.9e-5 at C=100 (breast cancer, standardized, tol=1e-12)",
            setting="coefficients are compared with solver='newton-cholesky' (tol 1e-12), "
                    "which agrees with our Newton solvers to 1e-10"),
    )

    n_in: int = 30
    n_classes: int = 2
    C: float = 1.0

    def __post_init__(self):
        if not isinstance(self.n_in, (int, np.integer)) or self.n_in < 1:
            raise ValueError(f"logreg: n_in must be a positive integer, got {self.n_in!r}")
        if not isinstance(self.n_classes, (int, np.integer)) or self.n_classes < 2:
            raise ValueError(f"logreg: n_classes must be an integer >= 2, got "
                             f"{self.n_classes!r}")
        if not isinstance(self.C, (int, float, np.floating)) or not (
                math.isfinite(self.C) and self.C > 0):
            raise ValueError(f"logreg: C must be a positive finite number, got {self.C!r}")

    @property
    def binary(self) -> bool:
        return self.n_classes == 2

    @property
    def n_out(self) -> int:
        return 1 if self.binary else self.n_classes

    def l2_strength(self, n: int) -> float:
        """λ of the penalty ``λ ‖W‖²`` for a batch of ``n``: ``1 / (2 C n)``
        (:func:`kernels.logistic.l2_strength`)."""
        return l2_strength(self.C, n)

    def objective(self):
        """Sigmoid (two classes) or softmax cross-entropy plus ``‖W‖² / (2 C n)``: an L2
        penalty on the kernel with strength ``1/(2C)`` per example."""
        loss = "sigmoid_cross_entropy" if self.binary else "softmax_cross_entropy"
        return Objective(loss, (Penalty("l2", ("dense.kernel",), n_strength(self.C),
                                        per_example=True),))

    def input_shape(self):
        return (self.n_in,)

    def param_shapes(self):
        return {"dense.kernel": (self.n_in, self.n_out), "dense.bias": (self.n_out,)}

    def init(self, seed=0, dtype="float64"):
        """Kernel and bias uniform in ±1/√n_in (torch's ``nn.Linear`` range).  The
        estimators start from zeros instead, as scikit-learn does."""
        dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        s = 1 / math.sqrt(self.n_in)
        return {k: rng.uniform(-s, s, size=shape).astype(dtype)
                for k, shape in self.param_shapes().items()}
