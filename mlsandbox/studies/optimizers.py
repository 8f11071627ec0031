"""The optimizer study: the MNIST MLP trained with SGD, SGD+momentum and Adam in every
framework.

The setup of the classic comparison (a 784-25-10 ReLU net, minibatches of 32, 30 epochs,
validation accuracy per optimizer): every framework starts from the same parameters and
sees the same minibatches in the same order, one ``net.train`` call per epoch that resumes
from the canonical optimizer state the previous epoch returned.  The report overlays, per
optimizer, the four frameworks' loss curves (they coincide: the deviation from the NumPy
reference is plotted beside them) and compares the optimizers' test accuracy per epoch.

Each framework runs its own optimizer (``torch.optim``, optax, ``keras.optimizers``) with
its native form: Keras's Adam uses its epsilon-hat (with ε = 1e-7, the DESIGN's
convention row); pass ``--adam-eps-hat true`` to make every framework compute Keras's form.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

import models
from mlsandbox import machine
from mlsandbox.compare import rel_err
from mlsandbox.data import as_features
from mlsandbox.report import new_figure
from mlsandbox.studies import common

HELP = "MNIST MLP with SGD, SGD+momentum and Adam in all four frameworks"

#: optimizer label -> (canonical optimizer, hyperparameters); lr comes from the Config
OPTIMIZERS = ("sgd", "momentum", "adam")


@dataclasses.dataclass
class Config:
    data: str = dataclasses.field(default="auto", metadata={
        "help": "auto (MNIST if found, else the embedded digits), mnist, fashion or digits"})
    data_dir: str = common.data_dir_field()
    backends: str = common.backends_field()
    optimizers: str = dataclasses.field(default="sgd,momentum,adam", metadata={
        "help": "comma list of sgd, momentum, adam"})
    dtype: str = common.dtype_field()
    epochs: int = dataclasses.field(default=30, metadata={"help": "epochs per run"})
    batch_size: int = dataclasses.field(default=32, metadata={"help": "minibatch size"})
    hidden: int = dataclasses.field(default=25, metadata={"help": "hidden units"})
    sgd_lr: float = dataclasses.field(default=0.1, metadata={"help": "SGD learning rate"})
    momentum_lr: float = dataclasses.field(default=0.01, metadata={
        "help": "SGD+momentum learning rate"})
    momentum: float = dataclasses.field(default=0.9, metadata={"help": "momentum"})
    adam_lr: float = dataclasses.field(default=1e-3, metadata={"help": "Adam learning rate"})
    adam_eps_hat: str = dataclasses.field(default="native", metadata={
        "help": "native (each framework's own Adam), true (the NumPy reference computes "
                "Keras's epsilon-hat form; torch and optax cannot and keep theirs) or false "
                "(refused by Keras, which has only its own form)"})
    init_scale: float = dataclasses.field(default=0.1, metadata={
        "help": "weights and biases uniform in [-s, s]"})
    train_limit: int = dataclasses.field(default=0, metadata={
        "help": "use only the first N training examples (0: all)"})
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of init and shuffles"})
    torch_threads: int = dataclasses.field(default=0, metadata={
        "help": "torch.set_num_threads for the run (0: torch's default); on a busy 2-core "
                "machine 1 thread runs this small net ~100x faster than 2 spinning ones"})
    progress: bool = common.progress_field()


def optimizer_hyper(label: str, config: Config, backend: str = "numpy") -> tuple[str, dict]:
    """Canonical optimizer and hyperparameters of ``label`` for ``backend``.  With
    ``adam_eps_hat`` true/false the NumPy reference and Keras compute that form; torch and
    optax have only the torch form and keep it."""
    if label == "sgd":
        return "sgd", {"lr": config.sgd_lr}
    if label == "momentum":
        return "sgd", {"lr": config.momentum_lr, "momentum": config.momentum}
    if label == "adam":
        h = {"lr": config.adam_lr}
        if config.adam_eps_hat not in ("native", "true", "false"):
            raise ValueError(f"--adam-eps-hat must be native, true or false, got "
                             f"{config.adam_eps_hat!r}")
        if config.adam_eps_hat != "native" and backend in ("numpy", "keras"):
            h["eps_hat"] = config.adam_eps_hat == "true"
        return "adam", h
    raise ValueError(f"unknown optimizer {label!r}; expected one of {list(OPTIMIZERS)}")


def epoch_batches(x, y, batch_size: int, seed: int, epoch: int) -> list[dict]:
    """The full minibatches of one epoch (a remainder is dropped so every step has the
    same shape), shuffled by ``(seed, epoch)``: the same for every framework."""
    order = np.random.default_rng([seed, epoch]).permutation(len(y))
    n = len(y) // batch_size * batch_size
    return [{"x": x[i], "y": y[i]} for i in order[:n].reshape(-1, batch_size)]


def accuracy(net, params, x, y) -> float:
    return common.accuracy(net, params, x, y)


@dataclasses.dataclass
class Run:
    backend: str
    optimizer: str
    losses: np.ndarray                   # every step
    test_accuracy: list[float]           # after every epoch
    params: dict
    ms_per_step: float


def train_one(backend, label, config, net_config, params, x, y, x_test, y_test, bar) -> Run:
    name, hyper = optimizer_hyper(label, config, backend)
    net = models.get("mlp", backend, **net_config)
    p, state, losses, accs, times = dict(params), None, [], [], []
    for epoch in range(config.epochs):
        batches = epoch_batches(x, y, config.batch_size, config.seed, epoch)
        t0 = time.perf_counter()
        p, l, state = net.train(p, batches, name, opt_state=state, return_opt_state=True,
                                **hyper)
        times.append((time.perf_counter() - t0) / len(batches))
        losses.append(l)
        accs.append(accuracy(net, p, x_test, y_test))
        bar.update(1)
    timed = times[1:] or times
    return Run(backend, label, np.concatenate(losses), accs, p, 1e3 * float(np.median(timed)))


def smooth(losses: np.ndarray, window: int) -> np.ndarray:
    """Mean over consecutive windows of ``window`` steps (minibatch losses are noisy)."""
    n = len(losses) // window * window
    return losses[:n].reshape(-1, window).mean(axis=1) if n else losses


def plot(runs: dict, labels, backends, window: int, title: str):
    fig, axes = new_figure(2, len(labels), figsize=(5 * len(labels), 7.5), squeeze=False)
    fig.suptitle(title)
    styles = ["-", "--", ":", "-."]
    for j, label in enumerate(labels):
        ax, ax_dev = axes[0][j], axes[1][j]
        ref = runs[label].get("numpy")
        for i, b in enumerate(backends):
            r = runs[label][b]
            s = smooth(r.losses, window)
            ax.plot(np.arange(len(s)) * window, s, styles[i % 4], color=common.COLORS.get(b),
                    label=b, lw=1.5)
            if ref is not None and b != "numpy":
                dev = np.abs(r.losses - ref.losses) / np.maximum(1.0, np.abs(ref.losses))
                ax_dev.semilogy(np.maximum(np.maximum.accumulate(dev), 1e-17),
                                color=common.COLORS.get(b), label=b, lw=1.3)
        ax.set(title=f"{label}: loss, four frameworks overlaid", xlabel="step",
               ylabel=f"training loss (mean of {window} steps)")
        ax.legend()
        ax_dev.set(title=f"{label}: max |loss − numpy| so far", xlabel="step",
                   ylabel="relative deviation")
        if ref is not None and len(backends) > 1:
            ax_dev.legend()
    fig.tight_layout()
    return fig


def plot_accuracy(runs: dict, labels, backend: str, title: str):
    fig, ax = new_figure(figsize=(6.5, 4.2))
    for label in labels:
        r = runs[label][backend]
        ax.plot(np.arange(1, len(r.test_accuracy) + 1), r.test_accuracy, marker="o", ms=3,
                label=label)
    ax.set(title=title, xlabel="epoch", ylabel="test accuracy")
    ax.legend()
    return fig


def run(config: Config, out_dir) -> Path:
    return common.run_study(write, config, out_dir)


def write(config: Config, report) -> common.Summary:
    """Train every optimizer in every backend and write the study into ``report``."""
    from tqdm.auto import tqdm

    ds, data_name = common.load_classification_data(config.data, config.data_dir or None)
    x = as_features(ds.x_train, config.dtype, ds.scale)
    y = ds.y_train.astype(np.int64)
    if config.train_limit:
        x, y = x[:config.train_limit], y[:config.train_limit]
    x_test = as_features(ds.x_test, config.dtype, ds.scale)
    y_test = ds.y_test.astype(np.int64)
    if config.epochs < 1 or config.batch_size < 1 or len(y) < config.batch_size:
        raise ValueError(f"need epochs >= 1 and 1 <= batch_size <= {len(y)} examples, got "
                         f"{config.epochs}, {config.batch_size}")
    labels = tuple(s.strip() for s in config.optimizers.split(",") if s.strip())
    for label in labels:
        optimizer_hyper(label, config)
    net_config = {"n_in": x.shape[1], "n_hidden": config.hidden, "n_out": len(ds.classes),
                  "init_scale": config.init_scale}
    backends = common.parse_backends(config.backends, "mlp")
    params = models.spec("mlp", **net_config).init(seed=config.seed, dtype=config.dtype)
    if config.torch_threads and "torch" in backends:
        import torch

        torch.set_num_threads(config.torch_threads)

    runs: dict[str, dict[str, Run]] = {}
    total = len(labels) * len(backends) * config.epochs
    with tqdm(total=total, desc="optimizers", unit="epoch", disable=not config.progress) as bar:
        for label in labels:
            runs[label] = {}
            for b in backends:
                bar.set_postfix_str(f"{label}/{b}")
                runs[label][b] = train_one(b, label, config, net_config, params, x, y,
                                           x_test, y_test, bar)

    rows, metrics = [], {}
    for label in labels:
        ref = runs[label].get("numpy")
        for b, r in runs[label].items():
            loss_dev = rel_err(r.losses, ref.losses) if ref else float("nan")
            par_dev = max(rel_err(r.params[k], ref.params[k]) for k in r.params) if ref \
                else float("nan")
            steps_per_epoch = len(r.losses) // config.epochs
            final_loss = float(r.losses[-steps_per_epoch:].mean())
            rows.append([label, b, r.test_accuracy[-1], max(r.test_accuracy), final_loss,
                         r.ms_per_step, loss_dev, par_dev])
            metrics.setdefault(label, {})[b] = {
                "optimizer": optimizer_hyper(label, config, b),
                "final_test_accuracy": r.test_accuracy[-1],
                "test_accuracy": r.test_accuracy, "last_epoch_mean_loss": final_loss,
                "ms_per_step": r.ms_per_step, "max_loss_deviation": loss_dev,
                "final_params_deviation": par_dev,
                "epoch_mean_losses": smooth(r.losses, steps_per_epoch).tolist()}

    title = (f"MLP {x.shape[1]}-{config.hidden}-{len(ds.classes)} on {data_name}: SGD, "
             f"SGD+momentum, Adam in {len(backends)} frameworks")
    window = max(1, len(runs[labels[0]][backends[0]].losses) // (config.epochs * 10))
    report.heading(title, 1)
    report.text(
        f"{len(y)} training and {len(y_test)} test examples, {config.dtype}, minibatches "
        f"of {config.batch_size} (the same ones, in the same order, in every framework), "
        f"{config.epochs} epochs, init uniform in [-{config.init_scale}, "
        f"{config.init_scale}] (seed {config.seed}), torch threads "
        f"{config.torch_threads or 'default'}.  Optimizers: SGD lr "
        f"{config.sgd_lr}; SGD+momentum lr {config.momentum_lr}, momentum "
        f"{config.momentum}; Adam lr {config.adam_lr}, β 0.9/0.999, ε 1e-8 (Keras: "
        f"epsilon-hat form, {config.adam_eps_hat}).  Deviations are max|x − x_numpy| / "
        f"max(1, max|x_numpy|) over every step's loss and the final parameters.  "
        f"Machine: {machine.summary()}.")
    report.table(["optimizer", "framework", "final test acc", "best test acc",
                  "last-epoch loss", "ms/step", "max loss dev", "final params dev"], rows)
    report.figure("loss_curves.png", plot(runs, labels, backends, window, title),
                  "per optimizer: the frameworks' loss curves overlaid, and their "
                  "deviation from the NumPy reference")
    acc_backend = "numpy" if "numpy" in backends else backends[0]
    report.figure("test_accuracy.png", plot_accuracy(
        runs, labels, acc_backend, f"test accuracy per epoch ({acc_backend})"),
        "test accuracy per epoch, one line per optimizer")
    report.metrics({"study": "optimizers", "data": data_name,
                    "config": dataclasses.asdict(config), "network": net_config,
                    "versions": common.versions(backends), "runs": metrics})
    batch = epoch_batches(x, y, config.batch_size, config.seed, 0)[0]
    speed = [common.Speed("mlp", net_config, batch,
                          f"{label}, minibatch {config.batch_size} x {x.shape[1]}",
                          {b: r.ms_per_step for b, r in runs[label].items()}, config.dtype)
             for label in labels]
    accuracy = {f"{label}: final test accuracy": {b: r.test_accuracy[-1]
                                                  for b, r in runs[label].items()}
                for label in labels}
    return common.Summary(title, data_name, accuracy, speed)
