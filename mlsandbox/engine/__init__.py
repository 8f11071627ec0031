"""The training engine: fit and evaluate any registered network in any backend.

>>> from mlsandbox import engine
>>> run = engine.fit("tinyvgg", "torch", (x_train, y_train), val=(x_test, y_test),
...                  epochs=5, batch_size=32, optimizer="adam", lr=1e-3,
...                  log_dir="runs", checkpoint="ckpt/tinyvgg.safetensors")   # doctest: +SKIP
>>> run.history["val_accuracy"]                                                # doctest: +SKIP

One loop (:func:`fit`: epochs, seeded shuffling, a tqdm progress bar, per-epoch loss and
accuracy history, callbacks such as :class:`EarlyStopping`, TensorBoard scalars,
safetensors checkpoints) drives the network's own trainer (:meth:`models.Network.trainer`,
the one training step of each framework, written in its adapter the way that framework's
users write it: the same step ``net.train`` and the benchmarks take).  Parameters and
optimizer state cross the boundary in canonical form only, so a run checkpointed in one
framework resumes in another.
"""

from mlsandbox.engine.callbacks import Callback, EarlyStopping
from mlsandbox.engine.loop import FitResult, evaluate, fit
from mlsandbox.engine.scalars import ScalarWriter

__all__ = ["Callback", "EarlyStopping", "FitResult", "ScalarWriter", "evaluate", "fit"]
