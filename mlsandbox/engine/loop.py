"""``fit`` and ``evaluate``: the epoch loop shared by every backend.

Per epoch: the training set is shuffled with ``np.random.default_rng([seed, epoch])``
(the same order in every framework and after a resume), cut into batches of
``batch_size`` (the last one may be smaller), and each batch is one step of the
network's own trainer (:meth:`models.Network.trainer`: the one training step of that
framework, the same one ``net.train`` takes); then the validation set (if any) goes
through the trainer's ``evaluate``.  The epoch's logs (``loss`` and ``accuracy``: means
over the epoch's training batches, weighted by the number of predictions, measured in
train mode as each step saw them; ``val_loss``, ``val_accuracy``) are appended to the
history, written to TensorBoard, passed to the callbacks, and the checkpoint (params,
optimizer state, epoch, history) is rewritten.  Dropout masks are drawn from the run's
``seed`` and the step number (the rule of :mod:`models._network`), so a resumed run
equals an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

import models
from mlsandbox.engine.callbacks import Callback
from models.checkpoint import checked_meta

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
    trainer: object = dataclasses.field(default=None, repr=False)

    def snapshot(self):
        """Copies of the trainer's current canonical (params, opt_state)."""
        return self.trainer.state()

    def restore(self, snapshot, epoch: int):
        """End the run with ``snapshot``'s params (an early-stopping hook asks for it)."""
        self.params, self.opt_state = snapshot
        self.best_epoch = epoch
        self._restored = True


def _as_net(network, backend: str | None, config: dict | None):
    if isinstance(network, models.Network):
        if backend not in (None, network.backend):
            raise ValueError(f"network is a {network.backend} network, backend={backend!r}")
        if config:
            raise ValueError("config= is for a network name; this network is built already")
        return network
    if backend is None:
        raise ValueError(f"backend= is needed with a network name; one of "
                         f"{list(models.BACKENDS)}")
    return models.get(network, backend, **(config or {}))


def as_arrays(data, spec, dtype: str, what: str) -> dict:
    """``data`` as a dict of arrays keyed like a batch, checked once: a pair ``(x, y)``
    for a network whose only input is ``x``, or a dict with every input of
    ``spec.inputs()`` and ``"y"``.  Float inputs must be floating point (they are cast
    to ``dtype``), and the whole set must pass ``spec.check_batch``."""
    if isinstance(data, Mapping):
        arrays = dict(data)
    elif isinstance(data, (tuple, list)) and len(data) == 2 and list(spec.inputs()) == ["x"]:
        arrays = {"x": data[0], "y": data[1]}
    else:
        keys = list(spec.inputs()) + ["y"]
        raise TypeError(f"{what} must be a pair (x, y) of arrays or a dict with {keys}, "
                        f"got {type(data).__name__}")
    out = {}
    for key, (tail, kind) in spec.inputs().items():
        if key not in arrays:
            raise ValueError(f"{what}: no {key!r} in the data (it has {sorted(arrays)})")
        a = np.asarray(arrays[key])
        if a.ndim != len(tail) + 1 or any(t is not None and s != t
                                           for s, t in zip(a.shape[1:], tail)):
            raise ValueError(f"{what}: {key} has shape {a.shape}, {spec.name} expects "
                             f"(n, {', '.join('T' if t is None else str(t) for t in tail)})")
        if kind == "float":
            if not np.issubdtype(a.dtype, np.floating):
                raise ValueError(f"{what}: {key} must be floating point (scale images to "
                                 f"[0, 1] first), got {a.dtype}")
            a = a.astype(dtype, copy=False)
        out[key] = a
    if "y" not in arrays:
        raise ValueError(f"{what}: no labels 'y' in the data")
    y = np.asarray(arrays["y"])
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: y must be integer class ids, got {y.dtype} {y.shape}")
    out["y"] = y.astype(np.int64, copy=False)
    try:
        spec.check_batch(out, dtype)
    except models.ContractError as exc:
        raise ValueError(f"{what}: {exc}") from None
    return out


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Index arrays of epoch ``epoch``'s batches (0-based epoch), shuffled reproducibly."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _take(arrays: dict, idx) -> dict:
    return {k: v[idx] for k, v in arrays.items()}


def _check_int(name: str, v, low: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def _evaluate(trainer, arrays: dict, batch_size: int) -> tuple[float, float]:
    """Mean loss (weighted by predictions) and accuracy of ``arrays`` in eval mode."""
    n = len(arrays["y"])
    total_loss = total_correct = total_count = 0.0
    for i in range(0, n, batch_size):
        m = trainer.evaluate(_take(arrays, slice(i, i + batch_size)))
        count = float(m["count"])
        total_loss += float(m["loss"]) * count
        total_correct += float(m["correct"])
        total_count += count
    if not total_count:
        return math.nan, math.nan
    return total_loss / total_count, total_correct / total_count


def _resume_meta(meta, path, optimizer) -> tuple[int, dict]:
    """The epoch count and history recorded in a checkpoint's metadata, checked
    (:func:`models.checkpoint.checked_meta`), and the optimizer it was trained with."""
    meta = checked_meta(meta, path)
    stored = meta.get("optimizer") or optimizer
    if stored != optimizer:
        raise ValueError(f"{path} was trained with {stored!r}, not {optimizer!r}")
    return meta["epoch"], {k: list(v) for k, v in meta["history"].items()}


def fit(network, backend: str | None = None, train=None, val=None, *, epochs: int = 1,
        batch_size: int = 32, optimizer: str = "adam", dtype: str = "float32", seed: int = 0,
        params: dict | None = None, opt_state: dict | None = None, resume=None,
        callbacks: Sequence[Callback] = (), log_dir=None, checkpoint=None,
        progress: bool = True, config: dict | None = None, devices: int = 1,
        **hyper) -> FitResult:
    """Train ``network`` (a registered name with ``config``, or a ``models.get`` network)
    in ``backend`` on ``train`` (``(x, y)``, or a dict of arrays keyed like a batch) for
    ``epochs`` epochs in total.

    ``params`` default to ``spec.init(seed, dtype)``.  ``resume`` is a checkpoint path
    written by any backend: its params, optimizer state, epoch count and history are
    taken, and training continues at the next epoch (``epochs`` counts from the start of
    the original run).  ``checkpoint`` is the path rewritten after every epoch.
    ``log_dir`` turns on TensorBoard scalars in ``<log_dir>/<network>-<backend>``.
    ``hyper`` are the optimizer's canonical hyperparameters (``lr=1e-3`` ...).  Every
    argument is checked before any work is done.

    ``devices=N`` trains data-parallel on the framework's own engine (the trainer's
    ``devices``): JAX over N devices of this process (simulated CPU devices:
    ``MLSANDBOX_CPU_DEVICES=N`` before JAX starts) or of every ``jax.distributed``
    process, Keras over a ``MirroredStrategy`` of N devices, torch in N gloo ranks: this
    process's group under ``torchrun``, else N processes started here
    (:mod:`mlsandbox.engine.launch`) whose rank 0 returns the run.  ``batch_size`` and
    the last batch of an epoch must split into N equal shards.  Only rank 0 (process
    0) writes checkpoints, TensorBoard scalars and progress.
    """

    from mlsandbox.engine import launch

    net = _as_net(network, backend, config)
    spec = net.spec
    epochs = _check_int("epochs", epochs, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    devices = _check_int("devices", devices, 1)
    history = {"epoch": [], **{k: [] for k in METRICS}}
    start = 0
    if resume is not None:
        params, opt_state, meta = models.load_checkpoint(resume, spec)
        start, stored = _resume_meta(meta, resume, optimizer)
        history.update(stored)
    elif params is None:
        params = spec.init(seed=seed, dtype=dtype)
    dtype = spec.check_params(params)
    data = as_arrays(train, spec, dtype, "train")
    val_data = as_arrays(val, spec, dtype, "val") if val is not None else None
    if devices > 1:
        _check_shards(len(data["y"]), batch_size, devices)
        if net.DATA_PARALLEL_PROCESSES and not launch.in_group():
            return launch.ranks(devices, _fit_rank, dict(
                network=spec.name, backend=net.backend, config=dataclasses.asdict(spec),
                train=data, val=val_data, epochs=epochs, batch_size=batch_size,
                optimizer=optimizer, seed=seed, params=params, opt_state=opt_state,
                callbacks=callbacks, log_dir=log_dir, checkpoint=checkpoint,
                progress=progress, devices=devices, resume_state=(start, history), **hyper))
    return _fit(net, data, val_data, epochs, batch_size, optimizer, seed, params, opt_state,
                callbacks, log_dir, checkpoint, progress, devices, start, history, hyper)


def _check_shards(n: int, batch_size: int, devices: int) -> None:
    last = n % batch_size
    if batch_size % devices or last % devices:
        raise ValueError(
            f"devices={devices} needs batches that split into {devices} equal shards: "
            f"batch_size={batch_size} and the last batch of each epoch ({n} examples: "
            f"{last or batch_size}) must be multiples of {devices}")


def _fit_rank(rank: int, kwargs: dict) -> FitResult:
    """One torch rank of :func:`fit` (started by :func:`launch.ranks`)."""
    start, history = kwargs.pop("resume_state")
    config = kwargs.pop("config")
    net = models.get(kwargs.pop("network"), kwargs.pop("backend"), **config)
    a = kwargs
    run = _fit(net, a.pop("train"), a.pop("val"), a.pop("epochs"), a.pop("batch_size"),
               a.pop("optimizer"), a.pop("seed"), a.pop("params"), a.pop("opt_state"),
               a.pop("callbacks"), a.pop("log_dir"), a.pop("checkpoint"), a.pop("progress"),
               a.pop("devices"), start, history, a)
    run.trainer = None   # stays in the rank
    return run


def _fit(net, data, val_data, epochs, batch_size, optimizer, seed, params, opt_state,
         callbacks, log_dir, checkpoint, progress, devices, start, history, hyper):
    """The epoch loop of :func:`fit` (arguments checked)."""
    from tqdm.auto import tqdm

    from mlsandbox.engine import launch

    spec = net.spec
    if not launch.is_writer():
        log_dir = checkpoint = None
        progress = False
    trainer = net.trainer(params, optimizer, opt_state=opt_state, seed=seed, devices=devices,
                          **hyper)
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
            batches = epoch_batches(len(data["y"]), batch_size, seed, epoch)
            bar = tqdm(batches, desc=f"{spec.name}/{net.backend} epoch {epoch + 1}/{epochs}",
                       disable=not progress, leave=False, unit="batch")
            steps = []
            for i, idx in enumerate(bar):
                m = trainer.step(_take(data, idx))
                steps.append(m)
                if progress and (i % 10 == 9 or i == len(batches) - 1):
                    bar.set_postfix(loss=f"{float(m['loss']):.4f}")
            losses = [float(m["loss"]) for m in steps]
            counts = np.array([float(m["count"]) for m in steps])
            run.step_losses.extend(losses)
            logs = {"loss": float(np.dot(losses, counts) / counts.sum()),
                    "accuracy": float(sum(float(m["correct"]) for m in steps) / counts.sum())}
            if val_data is not None:
                logs["val_loss"], logs["val_accuracy"] = _evaluate(trainer, val_data,
                                                                   batch_size)
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
    """``{"loss": the mean objective, "accuracy": fraction correct}`` of ``params`` on
    ``data`` (as :func:`fit`'s ``train``), in eval mode (dropout off)."""
    net = _as_net(network, backend, config)
    if params is None:
        raise ValueError("evaluate needs params=")
    dtype = net.spec.check_params(params)
    batch_size = _check_int("batch_size", batch_size, 1)
    arrays = as_arrays(data, net.spec, dtype, "data")
    trainer = net.trainer(params, "sgd", lr=0.0)
    loss, acc = _evaluate(trainer, arrays, batch_size)
    return {"loss": loss, "accuracy": acc}
