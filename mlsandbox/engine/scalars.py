"""TensorBoard scalars: one writer for every backend, one run directory per network and
backend (``<log_dir>/<network>-<backend>``), so TensorBoard overlays the frameworks.

The writer is ``torch.utils.tensorboard.SummaryWriter`` whatever the backend trained
(it writes the standard event files TensorBoard reads; no torch tensor is involved).
"""

from __future__ import annotations

from pathlib import Path


class ScalarWriter:
    """``add(tag, value, step)`` for floats; ``close()`` flushes.  Tags are
    ``loss/train``, ``accuracy/train``, ``loss/val``, ``accuracy/val``."""

    TAGS = {"loss": "loss/train", "accuracy": "accuracy/train",
            "val_loss": "loss/val", "val_accuracy": "accuracy/val"}

    def __init__(self, log_dir, network: str, backend: str):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = Path(log_dir) / f"{network}-{backend}"
        self._writer = SummaryWriter(log_dir=str(self.run_dir))

    def add(self, tag: str, value: float, step: int) -> None:
        self._writer.add_scalar(tag, float(value), step)

    def log_epoch(self, epoch: int, logs: dict) -> None:
        for key, tag in self.TAGS.items():
            if key in logs:
                self.add(tag, logs[key], epoch)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def read_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` read back from a run directory's event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]}
