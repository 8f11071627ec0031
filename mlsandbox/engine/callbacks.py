"""Hooks the loop calls after every epoch.

A callback is any object with ``on_epoch_end(epoch, logs, run) -> bool | None``: ``logs``
holds the epoch's metrics (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``),
``run`` is the :class:`~mlsandbox.engine.loop.FitResult` being filled in, and a true
return value stops training after this epoch (``run.stopped_early`` is set).
"""

from __future__ import annotations

import math


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_start(self, run) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict, run) -> bool | None:
        return None


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs (Keras's rule).  With ``restore_best`` the run ends with the parameters of the
    best epoch (``run.params``/``run.opt_state`` are replaced by that epoch's)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = True):
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min', 'max' or 'auto', got {mode!r}")
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.mode, self.restore_best = mode, restore_best

    def on_fit_start(self, run):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.wait, self.best_state = None, 0, None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs, run):
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r} but the epoch logged "
                           f"only {sorted(logs)} (pass val= to fit for val_* metrics)")
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = run.snapshot()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            if self.restore_best and self.best_state is not None:
                run.restore(self.best_state, self.best_epoch)
            return True
        return False
