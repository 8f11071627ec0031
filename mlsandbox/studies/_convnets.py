"""What the two convnet studies share: image data as NHWC floats, one engine run per
backend from identical parameters, the table and the plots."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

import models
from mlsandbox import engine, machine
from mlsandbox.compare import rel_err
from mlsandbox.studies import common


# -- the flags both conv studies have beyond common's (fresh Field objects per class) ----
def lr_field():
    return dataclasses.field(default=1e-3, metadata={"help": "Adam learning rate"})


def train_limit_field():
    return dataclasses.field(default=0, metadata={
        "help": "use only the first N training images (0: all)"})


def seed_field():
    return dataclasses.field(default=0, metadata={"help": "seed of params and shuffling"})


def checkpoint_dir_field():
    return dataclasses.field(default="", metadata={
        "help": "rewrite <dir>/<network>-<backend>.safetensors every epoch; resume from it"})


def load_images(data: str, data_dir=None, dtype="float32"):
    """``(x_train, y_train, x_test, y_test, description)``, x NHWC in [0, 1].

    ``data``: ``pizza_steak_sushi`` (64x64x3 photos), ``fashion`` or ``mnist``
    (28x28x1).
    """
    from mlsandbox import data as D

    if data == "pizza_steak_sushi":
        ds, name = D.load_pizza_steak_sushi(data_dir=data_dir, progress=False), "pizza_steak_sushi"
    elif data == "fashion":
        ds, name = D.load_fashion_mnist(data_dir=data_dir), "Fashion-MNIST"
    elif data == "mnist":
        ds, name = D.load_mnist(data_dir=data_dir, progress=False), "MNIST"
    else:
        raise ValueError(f"--data must be pizza_steak_sushi, fashion or mnist, got {data!r}")

    def prep(x):                                 # uint8 -> [0, 1], (n, H, W) -> NHWC
        x = np.asarray(x).astype(dtype) / np.asarray(ds.scale, dtype)
        return x[..., None] if x.ndim == 3 else x

    return (prep(ds.x_train), ds.y_train.astype(np.int64), prep(ds.x_test),
            ds.y_test.astype(np.int64), name)


def train_all(network: str, net_config: dict, train, test, *, backends, epochs: int,
              batch_size: int, lr: float, seed: int, dtype: str, log_dir, progress: bool,
              checkpoint_dir=None, jax_impl="xla"):
    """``{backend: FitResult}``: Adam (each framework's own), the same initial params,
    the same batches in the same order; test set evaluated after every epoch.

    With ``checkpoint_dir`` every backend rewrites ``<dir>/<network>-<backend>.safetensors``
    after each epoch and, when that file exists at the start, resumes from it.
    ``jax_impl`` is the JAX backend's kernel set (:func:`common.build_network`).
    """
    params = models.spec(network, **net_config).init(seed=seed, dtype=dtype)
    out = {}
    for b in backends:
        ckpt = resume = None
        if checkpoint_dir:
            ckpt = Path(checkpoint_dir) / f"{network}-{b}.safetensors"
            resume = ckpt if ckpt.is_file() else None
        net = common.build_network(network, b, net_config, jax_impl)
        out[b] = engine.fit(net, b, train, test, epochs=epochs, batch_size=batch_size,
                            optimizer="adam", lr=lr, eps_hat=None, dtype=dtype, seed=seed,
                            params=None if resume else params, resume=resume,
                            checkpoint=ckpt, log_dir=log_dir, progress=progress)
    return out


def rows_and_metrics(runs, reference="numpy"):
    rows, metrics = [], {}
    ref = runs.get(reference)
    for b, r in runs.items():
        h = r.history
        dev = (max(rel_err(a, w) for a, w in zip(r.step_losses, ref.step_losses))
               if ref is not None else float("nan"))
        s_epoch = float(np.median(h["seconds"][1:] or h["seconds"]))
        rows.append([b, h["loss"][-1], h["accuracy"][-1], h["val_loss"][-1],
                     h["val_accuracy"][-1], max(h["val_accuracy"]), s_epoch, dev])
        metrics[b] = {"history": h, "step_losses": r.step_losses,
                      "final_test_accuracy": h["val_accuracy"][-1],
                      "best_test_accuracy": max(h["val_accuracy"]),
                      "seconds_per_epoch": s_epoch, "max_step_loss_deviation": dev}
    headers = ["framework", "train loss", "train acc", "test loss", "test acc",
               "best test acc", "s/epoch", f"max step-loss dev vs {reference}"]
    return headers, rows, metrics


def write_report(report, title, intro, network, net_config, config, data_name, backends,
                 train, test) -> common.Summary:
    """Train every backend and write the study into ``report`` (TensorBoard logs land in
    its folder); then time the training step on one batch (:func:`common.step_ms`: the
    engine's epoch times include the test evaluation)."""
    report.heading(title, 1)
    runs = train_all(network, net_config, train, test, backends=backends,
                     epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                     seed=config.seed, dtype=config.dtype,
                     log_dir=report.path / "tensorboard", progress=config.progress,
                     checkpoint_dir=config.checkpoint_dir or None,
                     jax_impl=config.jax_impl)
    batch = {"x": train[0][:config.batch_size], "y": train[1][:config.batch_size]}
    params = models.spec(network, **net_config).init(seed=config.seed, dtype=config.dtype)
    ms = common.step_ms(network, net_config, params, batch, optimizer="adam",
                        hyper={"lr": config.lr}, backends=backends, jax_impl=config.jax_impl)
    headers, rows, metrics = rows_and_metrics(runs)
    headers.append("ms/step")
    for row, b in zip(rows, runs):
        row.append(ms[b])
        metrics[b]["ms_per_step"] = ms[b]
    report.text(intro + f" {len(train[0])} training and {len(test[0])} test images, "
                f"{config.dtype}, Adam lr {config.lr} (each framework's own Adam: "
                f"Keras's epsilon-hat differs), batch {config.batch_size}, "
                f"{config.epochs} epochs, identical initial parameters (seed "
                f"{config.seed}) and batch order in every framework. Train loss and "
                f"accuracy are epoch means in train mode; test after each epoch. ms/step: "
                f"the median of two timed pairs of Adam steps on the first batch, after a "
                f"compiling pair. Machine: {machine.summary()}. "
                f"TensorBoard: `tensorboard --logdir {report.given_dir / 'tensorboard'}`."
                + common.jax_impl_note(config.jax_impl, backends, network))
    report.table(headers, rows)
    report.figure("loss_curves.png", common.plot_fit_runs(runs, title), "loss curves overlaid")
    report.metrics({"study": network, "data": data_name, "network": net_config,
                    "config": dataclasses.asdict(config),
                    "versions": common.versions(backends), "runs": metrics})
    shape = " x ".join(str(d) for d in batch["x"].shape)
    return common.Summary(
        title, data_name,
        {"final test accuracy": {b: r.history["val_accuracy"][-1] for b, r in runs.items()}},
        [common.Speed(network, net_config, batch, f"Adam, batch {shape}", ms, config.dtype)])
