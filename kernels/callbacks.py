"""Training callbacks that watch a measured loss, NumPy reference: reduce-on-plateau and
early stopping with best-weights restore.

Both are fed one value per epoch (``update(value)``), the way ``torch.optim.lr_scheduler.
ReduceLROnPlateau.step(metric)`` and Keras's ``callbacks.ReduceLROnPlateau`` /
``callbacks.EarlyStopping`` (``on_epoch_end``) are.

>>> from kernels.callbacks import EarlyStopping, ReduceLROnPlateau
>>> r = ReduceLROnPlateau(lr=0.1, factor=0.5, patience=1)
>>> [r.update(v) for v in (1.0, 1.0, 1.0, 0.5)]
[0.1, 0.1, 0.05, 0.05]
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` once the loss has not improved for more
    than ``patience`` epochs (torch's rule).

    An epoch improves when ``value < best·(1 - threshold)`` (``threshold_mode="rel"``,
    torch's default) or ``value < best - threshold`` (``"abs"``, Keras's ``min_delta``).
    After a reduction, ``cooldown`` epochs pass with the bad-epoch count held at 0.
    The rate never goes below ``min_lr``; a reduction smaller than ``eps`` is skipped.

    Keras's callback reduces after ``patience`` bad epochs, torch after ``patience + 1``:
    Keras ``ReduceLROnPlateau(patience=p, min_delta=δ)`` is this class with
    ``patience=p - 1, threshold=δ, threshold_mode="abs"`` (with ``cooldown=0``).
    """

    def __init__(self, lr: float, *, factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8):
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must lie in (0, 1), got {factor}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if patience < 0 or cooldown < 0:
            raise ValueError(f"patience and cooldown must be >= 0, got {patience}, {cooldown}")
        self.lr, self.factor, self.patience = float(lr), factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps
        self.best, self.bad_epochs, self.cooldown_left = math.inf, 0, 0

    def improved(self, value: float) -> bool:
        if self.threshold_mode == "rel":
            return value < self.best * (1.0 - self.threshold)
        return value < self.best - self.threshold

    def update(self, value: float) -> float:
        """Feed one epoch's loss; return the learning rate for the next epoch."""
        value = float(value)
        if self.improved(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            new = max(self.lr * self.factor, self.min_lr)
            if self.lr - new > self.eps:
                self.lr = new
            self.cooldown_left, self.bad_epochs = self.cooldown, 0
        return self.lr


class EarlyStopping:
    """Stop once the monitored value has not improved by more than ``min_delta`` for
    ``patience`` epochs (Keras's rule); keep a copy of the best epoch's params to restore.

    ``mode="min"`` watches a loss (improving means falling), ``"max"`` an accuracy
    (rising).  ``update(value, params)`` returns True when training should stop;
    :attr:`best_params` holds the params of the best epoch (``restore_best_weights``),
    :attr:`best_epoch` its index and :attr:`improved` whether the last update improved.
    """

    def __init__(self, *, patience: int = 0, min_delta: float = 0.0, mode: str = "min"):
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) \
                or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if not math.isfinite(min_delta):
            raise ValueError(f"min_delta must be finite, got {min_delta!r}")
        self.patience, self.min_delta, self.mode = int(patience), abs(min_delta), mode
        self.best, self.wait, self.epoch = math.inf, 0, -1
        self.best_epoch, self.best_params, self.stopped_epoch = -1, None, None
        self.improved = False

    def update(self, value: float, params: Mapping[str, np.ndarray] | None = None) -> bool:
        self.epoch += 1
        value = float(value) if self.mode == "min" else -float(value)
        self.improved = value < self.best - self.min_delta
        if self.improved:
            self.best, self.wait, self.best_epoch = value, 0, self.epoch
            if params is not None:
                self.best_params = {k: np.array(v) for k, v in params.items()}
            return False
        self.wait += 1
        if self.wait >= self.patience and self.epoch > 0:
            self.stopped_epoch = self.epoch
            return True
        return False
