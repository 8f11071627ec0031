"""The MLP (784-10-10 on MNIST, 64-10-10 on the embedded digits) trained by full-batch
gradient descent in every framework.

The classic setup: ReLU hidden layer of 10, softmax output, weights and biases uniform in
[-0.5, 0.5], learning rate 0.1, 500 iterations over the whole training set.  The four
frameworks start from the same parameters and see the same data; the report shows how
far each one's loss curve and final parameters are from the NumPy reference.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

import models
from mlsandbox import machine
from mlsandbox.alloc import describe as describe_allocator
from mlsandbox.data import as_features
from mlsandbox.studies import common

HELP = ("MLP n_in-10-10 (784 on MNIST, 64 on the embedded digits) by full-batch gradient "
        "descent in all four frameworks")


@dataclasses.dataclass
class Config:
    data: str = dataclasses.field(default="auto", metadata={
        "help": "auto (MNIST if found, else the embedded digits), mnist, fashion or digits"})
    data_dir: str = common.data_dir_field()
    backends: str = common.backends_field()
    dtype: str = common.dtype_field()
    steps: int = dataclasses.field(default=500, metadata={"help": "gradient-descent steps"})
    lr: float = dataclasses.field(default=0.1, metadata={"help": "learning rate"})
    hidden: int = dataclasses.field(default=10, metadata={"help": "hidden units"})
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of the initial parameters"})
    chunk: int = dataclasses.field(default=50, metadata={
        "help": "steps per call to train() (the progress bar moves once per chunk)"})
    progress: bool = common.progress_field()
    jax_impl: str = common.jax_impl_field()
    devices: int = common.devices_field()


def run(config: Config, out_dir) -> Path:
    return common.run_study(write, config, out_dir)


def write(config: Config, report) -> common.Summary:
    """Train every backend and write the study into ``report`` (a Report or a section)."""
    ds, data_name = common.load_classification_data(config.data, config.data_dir or None)
    x_train = as_features(ds.x_train, config.dtype, ds.scale)
    # data-parallel: the full batch must split into equal shards; the remainder is left out
    keep = len(x_train) - len(x_train) % config.devices
    x_train, y_train = x_train[:keep], ds.y_train[:keep]
    x_test = as_features(ds.x_test, config.dtype, ds.scale)
    net_config = {"n_in": x_train.shape[1], "n_hidden": config.hidden,
                  "n_out": len(ds.classes)}
    backends = common.parse_backends(config.backends, "mlp")
    spec = models.spec("mlp", **net_config)
    params = spec.init(seed=config.seed, dtype=config.dtype)
    batch = {"x": x_train, "y": y_train.astype(np.int64)}
    common.prepare_devices(config.devices, len(x_train), backends)

    runs = common.train_side_by_side(
        "mlp", net_config, params, batch, steps=config.steps, chunk=config.chunk,
        optimizer="sgd", hyper={"lr": config.lr}, backends=backends,
        progress=config.progress, jax_impl=config.jax_impl, devices=config.devices)
    dev = common.deviation(runs)

    rows, metrics, test_accuracy = [], {}, {}
    for b, r in runs.items():
        net = common.build_network("mlp", b, net_config, config.jax_impl)
        train_acc = common.accuracy(net, r.params, x_train, y_train)
        test_acc = common.accuracy(net, r.params, x_test, ds.y_test) if len(x_test) else float("nan")
        rows.append([b, float(r.losses[-1]), train_acc, test_acc, r.ms_per_step,
                     dev[b]["loss"], dev[b]["params"]])
        metrics[b] = {"final_loss": float(r.losses[-1]), "train_accuracy": train_acc,
                      "test_accuracy": test_acc, "ms_per_step": r.ms_per_step,
                      "max_loss_deviation": dev[b]["loss"],
                      "final_params_deviation": dev[b]["params"],
                      "losses": r.losses.tolist()}
        test_accuracy[b] = test_acc

    title = f"MLP {spec.n_in}-{spec.n_hidden}-{spec.n_out}, full-batch GD on {data_name}"
    report.heading(title, 1)
    report.text(
        f"{len(x_train)} training and {len(x_test)} test examples, {config.dtype}, "
        f"lr {config.lr}, {config.steps} steps, init uniform in [-0.5, 0.5] (seed "
        f"{config.seed}), identical for every framework. Deviations are "
        f"max|x − x_numpy| / max(1, max|x_numpy|): the loss over all steps, and the "
        f"final parameters. ms/step is the median over chunks of {config.chunk} steps "
        f"after the first (which compiles). Machine: {machine.summary()}; "
        f"allocator: {describe_allocator()}."
        + common.jax_impl_note(config.jax_impl, backends, "mlp")
        + common.devices_note(config.devices, backends))
    report.table(["framework", "final loss", "train acc", "test acc", "ms/step",
                  "max loss dev", "final params dev"], rows)
    report.figure("loss_curves.png", common.plot_loss_curves(runs, title),
                  "loss curves of every framework, overlaid")
    report.metrics({"study": "mlp", "data": data_name, "config": dataclasses.asdict(config),
                    "network": net_config, "versions": common.versions(backends),
                    "allocator": describe_allocator(),
                    "runs": metrics})
    speed = common.Speed("mlp", net_config, batch,
                         f"full-batch GD, {len(x_train)} x {x_train.shape[1]}",
                         {b: r.ms_per_step for b, r in runs.items()}, config.dtype)
    return common.Summary(title, data_name, {"test accuracy": test_accuracy}, [speed])
