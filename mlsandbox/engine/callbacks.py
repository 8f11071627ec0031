"""Hooks the loop calls after every epoch.

A callback is any object with ``on_epoch_end(epoch, logs, run) -> bool | None``: ``logs``
holds the epoch's metrics (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``),
``run`` is the :class:`~mlsandbox.engine.loop.FitResult` being filled in, and a true
return value stops training after this epoch (``run.stopped_early`` is set).
"""

from __future__ import annotations

from kernels import callbacks as kernels_callbacks


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_start(self, run) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict, run) -> bool | None:
        return None


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs: the rule of :class:`kernels.callbacks.EarlyStopping` (Keras's, checked
    against it), fed one logged value per epoch.  With ``restore_best`` the run ends
    with the parameters of the best epoch (``run.params``/``run.opt_state`` are replaced
    by that epoch's)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = True):
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.restore_best = monitor, restore_best
        self.rule = kernels_callbacks.EarlyStopping(patience=patience, min_delta=min_delta,
                                                    mode=mode)
        self.config = {"patience": patience, "min_delta": min_delta, "mode": mode}

    def on_fit_start(self, run):
        self.rule = kernels_callbacks.EarlyStopping(**self.config)
        self.best_epoch, self.best_state = None, None

    def on_epoch_end(self, epoch, logs, run):
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r} but the epoch logged "
                           f"only {sorted(logs)} (pass val= to fit for val_* metrics)")
        stop = self.rule.update(logs[self.monitor])
        if self.rule.improved:
            self.best_epoch = epoch
            if self.restore_best:
                self.best_state = run.snapshot()
        if stop and self.restore_best and self.best_state is not None:
            run.restore(self.best_state, self.best_epoch)
        return stop
