"""``fit`` and ``evaluate``: the epoch loop shared by every backend.

Per epoch: the training set is shuffled with ``np.random.default_rng([seed, epoch])``
(the same order in every framework and after a resume), cut into batches of
``batch_size`` (the last one may be smaller), each batch is one ``train_step``; then the
validation set (if any) goes through ``eval_step``.  The epoch's logs (``loss`` and
``accuracy``: means over the epoch's training batches, weighted by batch size, measured
in train mode as each step saw them; ``val_loss``, ``val_accuracy``) are appended to the
history, written to TensorBoard, passed to the callbacks, and the checkpoint (params,
optimizer state, epoch, history) is rewritten.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

import models
from kernels import optim
from mlsandbox.engine.callbacks import Callback
from mlsandbox.engine.trainer import Trainer, trainer_class

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns: final canonical params and optimizer state, and the
    per-epoch history ``{"epoch": [1, 2, ...], "loss": [...], "accuracy": [...],
    "val_loss": [...], "val_accuracy": [...], "seconds": [...]}``."""

    network: str
    backend: str
    params: dict
    opt_state: dict
    history: dict
    epochs_done: int = 0
    stopped_early: bool = False
    best_epoch: int | None = None
    #: the loss of every training step this call ran (before its update)
    step_losses: list = dataclasses.field(default_factory=list)
    trainer: Trainer | None = dataclasses.field(default=None, repr=False)

    def snapshot(self):
        """Copies of the trainer's current canonical (params, opt_state)."""
        params, opt_state = self.trainer.state()
        return ({k: np.array(v) for k, v in params.items()},
                {k: np.array(v) for k, v in opt_state.items()})

    def restore(self, snapshot, epoch: int):
        """End the run with ``snapshot``'s params (an early-stopping hook asks for it)."""
        self.params, self.opt_state = snapshot
        self.best_epoch = epoch
        self._restored = True


def _as_net(network, backend: str, config: dict | None):
    if isinstance(network, models.Network):
        if backend not in (None, network.backend):
            raise ValueError(f"network is a {network.backend} network, backend={backend!r}")
        return network
    return models.get(network, backend, **(config or {}))


def _check_xy(data, spec, dtype: str, what: str):
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"{what} must be a pair (x, y) of arrays, got {type(data).__name__}")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if x.shape[1:] != tuple(spec.input_shape()):
        raise ValueError(f"{what}: x has shape {x.shape}, {spec.name} expects "
                         f"(n, {', '.join(map(str, spec.input_shape()))})")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: y must be ({x.shape[0]},) integer class ids, "
                         f"got {y.dtype} {y.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{what}: x must be floating point (scale images to [0, 1] first), "
                         f"got {x.dtype}")
    return x.astype(dtype, copy=False), y.astype(np.int64, copy=False)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Index arrays of epoch ``epoch``'s batches (0-based epoch), shuffled reproducibly."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


#: Forms of a rule that frameworks compute differently: unless the caller names one, each
#: framework computes its own (None), as its users would get it (Keras's Adam adds
#: epsilon before the bias correction; see the README's conventions table).
NATIVE_FORMS = {"adam": {"eps_hat": None}, "adamw": {"eps_hat": None},
                "rmsprop": {"eps_in_sqrt": None}}


def make_trainer(net, params, optimizer="adam", opt_state=None, seed=0, **hyper) -> Trainer:
    """The backend's :class:`Trainer` on ``params`` (fresh optimizer state unless given)."""
    hyper = optim.resolve(optimizer, {**NATIVE_FORMS.get(optimizer, {}), **hyper})
    trainable = {k: params[k] for k in net.spec.trainable()}
    opt_state = (optim.init(optimizer, trainable, hyper) if opt_state is None
                 else optim.check_state(optimizer, trainable, hyper, opt_state))
    return trainer_class(net.backend)(net, dict(params), optimizer, hyper, opt_state, seed)


def _run_eval(trainer, x, y, batch_size):
    total_loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        loss, c = trainer.eval_step(x[i:i + batch_size], y[i:i + batch_size])
        total_loss += float(loss) * len(x[i:i + batch_size])
        correct += int(c)
    return total_loss / len(x), correct / len(x)


def fit(network, backend: str | None = None, train=None, val=None, *, epochs: int = 1,
        batch_size: int = 32, optimizer: str = "adam", dtype: str = "float32", seed: int = 0,
        params: dict | None = None, opt_state: dict | None = None, resume=None,
        callbacks: Sequence[Callback] = (), log_dir=None, checkpoint=None,
        progress: bool = True, config: dict | None = None, **hyper) -> FitResult:
    """Train ``network`` (a registered name with ``config``, or a ``models.get`` network)
    in ``backend`` on ``train = (x, y)`` for ``epochs`` epochs in total.

    ``params`` default to ``spec.init(seed, dtype)``.  ``resume`` is a checkpoint path
    written by any backend: its params, optimizer state, epoch count and history are
    taken, and training continues at the next epoch (``epochs`` counts from the start of
    the original run).  ``checkpoint`` is the path rewritten after every epoch.
    ``log_dir`` turns on TensorBoard scalars in ``<log_dir>/<network>-<backend>``.
    ``hyper`` are the optimizer's canonical hyperparameters (``lr=1e-3`` ...).
    """
    from tqdm.auto import tqdm

    net = _as_net(network, backend, config)
    spec = net.spec
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    history = {"epoch": [], **{k: [] for k in METRICS}}
    start = 0
    if resume is not None:
        params, opt_state, meta = models.load_checkpoint(resume, spec)
        start = int(meta.get("epoch", 0))
        for k, v in meta.get("history", {}).items():
            history[k] = list(v)
        if meta.get("optimizer", optimizer) != optimizer:
            raise ValueError(f"{resume} was trained with {meta['optimizer']!r}, "
                             f"not {optimizer!r}")
        dtype = spec.check_params(params)
    elif params is None:
        params = spec.init(seed=seed, dtype=dtype)
    dtype = spec.check_params(params)
    x, y = _check_xy(train, spec, dtype, "train")
    xv_yv = _check_xy(val, spec, dtype, "val") if val is not None else None
    trainer = make_trainer(net, params, optimizer, opt_state, seed, **hyper)
    run = FitResult(spec.name, net.backend, dict(params), {}, history, start, trainer=trainer)
    writer = None
    if log_dir is not None:
        from mlsandbox.engine.scalars import ScalarWriter

        writer = ScalarWriter(log_dir, spec.name, net.backend)
    for cb in callbacks:
        cb.on_fit_start(run)
    try:
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            batches = epoch_batches(len(x), batch_size, seed, epoch)
            bar = tqdm(batches, desc=f"{spec.name}/{net.backend} epoch {epoch + 1}/{epochs}",
                       disable=not progress, leave=False, unit="batch")
            losses, corrects = [], []
            for i, idx in enumerate(bar):
                loss, correct = trainer.train_step(x[idx], y[idx])
                losses.append(loss)
                corrects.append(correct)
                if progress and (i % 10 == 9 or i == len(batches) - 1):
                    bar.set_postfix(loss=f"{float(loss):.4f}")
            sizes = np.array([len(idx) for idx in batches], dtype=np.float64)
            losses = [float(v) for v in losses]
            run.step_losses.extend(losses)
            logs = {"loss": float(np.dot(losses, sizes) / sizes.sum()),
                    "accuracy": float(sum(int(c) for c in corrects) / sizes.sum())}
            if xv_yv is not None:
                logs["val_loss"], logs["val_accuracy"] = _run_eval(trainer, *xv_yv, batch_size)
            logs["seconds"] = time.perf_counter() - t0
            history["epoch"].append(epoch + 1)
            for k in METRICS:
                if k in logs:
                    history[k].append(logs[k])
            run.epochs_done = epoch + 1
            if progress:
                tqdm.write(f"{spec.name}/{net.backend} epoch {epoch + 1}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in logs.items()))
            if writer is not None:
                writer.log_epoch(epoch + 1, logs)
            stop = any([bool(cb.on_epoch_end(epoch + 1, logs, run)) for cb in callbacks])
            if checkpoint is not None:
                p, s = trainer.state()
                save(checkpoint, net, p, s, optimizer, trainer.hyper, seed, epoch + 1, history)
            if stop:
                run.stopped_early = True
                break
    finally:
        if writer is not None:
            writer.close()
    if not getattr(run, "_restored", False):
        run.params, run.opt_state = trainer.state()
    return run


def save(path, net, params, opt_state, optimizer, hyper, seed, epoch, history) -> Path:
    """A resumable checkpoint: canonical params and optimizer state, and in its header
    the network config, backend, optimizer, hyperparameters, seed, epoch and history."""
    meta = {"epoch": epoch, "backend": net.backend, "optimizer": optimizer,
            "hyper": {k: v for k, v in hyper.items() if _jsonable(v)}, "seed": seed,
            "history": history}
    return models.save_checkpoint(path, params, spec=net.spec, opt_state=opt_state, meta=meta)


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def evaluate(network, backend: str | None = None, params=None, data=None, *,
             batch_size: int = 256, config: dict | None = None) -> dict:
    """``{"loss": mean cross-entropy, "accuracy": fraction correct}`` of ``params`` on
    ``data = (x, y)``, in eval mode (dropout off)."""
    net = _as_net(network, backend, config)
    dtype = net.spec.check_params(params)
    x, y = _check_xy(data, net.spec, dtype, "data")
    trainer = make_trainer(net, params, "sgd", lr=0.0)
    loss, acc = _run_eval(trainer, x, y, batch_size)
    return {"loss": loss, "accuracy": acc}
