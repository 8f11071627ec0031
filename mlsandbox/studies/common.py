"""What the network studies share: data selection, side-by-side training, plots."""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import numpy as np

import models
from mlsandbox.compare import rel_err
from mlsandbox.report import new_figure

# -- the flags every network study shares (fresh Field objects: one per Config class) ----
def data_dir_field():
    return dataclasses.field(default="", metadata={
        "help": "data directory (else $MLSANDBOX_DATA, else the user cache)"})


def backends_field():
    return dataclasses.field(default="all", metadata={
        "help": "comma list of numpy,jax,torch,keras or 'all'"})


def dtype_field():
    return dataclasses.field(default="float32", metadata={"help": "float32 or float64"})


def progress_field():
    return dataclasses.field(default=True, metadata={"help": "show progress bars"})


def jax_impl_field():
    return dataclasses.field(default="xla", metadata={
        "help": "the JAX column's kernels: xla (the Flax model as written) or a "
                "kernels/accel set (mlp: fused, onednn; tinyvgg, cnn: fast, onednn)"})


def build_network(name: str, backend: str, config: dict, jax_impl: str = "xla"):
    """``models.get(name, backend, **config)``, the JAX backend with kernel set
    ``jax_impl`` (``impl=``; the other backends have none)."""
    options = {"impl": jax_impl} if backend == "jax" and jax_impl != "xla" else {}
    return models.get(name, backend, **config, **options)


def jax_impl_note(jax_impl: str, backends) -> str:
    """A sentence for the report when the JAX column runs a kernels/accel set."""
    if jax_impl == "xla" or "jax" not in backends:
        return ""
    return (f" The JAX column runs the `kernels/accel` kernel set `impl=\"{jax_impl}\"` "
            "(same numbers as the Flax model, checked in parity/test_accel.py).")


COLORS = {"numpy": "#4c72b0", "jax": "#dd8452", "torch": "#c44e52", "keras": "#55a868"}


def parse_backends(text: str, network: str) -> tuple[str, ...]:
    """``"numpy,jax"`` -> ("numpy", "jax"); ``"all"`` -> every backend the network has."""
    have = models.available(network)
    if text.strip() == "all":
        return have
    names = tuple(b.strip() for b in text.split(",") if b.strip())
    bad = [b for b in names if b not in models.BACKENDS]
    if bad:
        raise ValueError(f"unknown backend(s) {bad}; expected a comma list of "
                         f"{list(models.BACKENDS)} or 'all'")
    missing = [b for b in names if b not in have]
    if missing:
        raise ValueError(f"{network} is not written in {missing} (it has {list(have)})")
    return names


def load_classification_data(data: str, data_dir=None):
    """``(Dataset, description)`` for ``data`` in {"auto", "mnist", "fashion", "digits"}.

    ``auto`` takes MNIST when its files are in the data directory and the embedded
    scikit-learn digits otherwise.
    """
    from mlsandbox import data as D

    if data not in ("auto", "mnist", "fashion", "digits"):
        raise ValueError(f"--data must be auto, mnist, fashion or digits, got {data!r}")
    if data == "auto":
        try:
            return D.load_mnist(data_dir=data_dir, progress=False), "MNIST"
        except D.DataNotFoundError:
            return D.load_digits(), "scikit-learn digits (embedded default; no MNIST found)"
    if data == "mnist":
        return D.load_mnist(data_dir=data_dir), "MNIST"
    if data == "fashion":
        return D.load_fashion_mnist(data_dir=data_dir), "Fashion-MNIST"
    return D.load_digits(), "scikit-learn digits"


@dataclasses.dataclass
class Run:
    """One backend's training run."""

    backend: str
    losses: np.ndarray
    params: dict
    ms_per_step: float


def train_side_by_side(network: str, config: dict, params: dict, batch: dict, *,
                       steps: int, chunk: int, optimizer: str, hyper: dict,
                       backends: Sequence[str], progress: bool = True,
                       jax_impl: str = "xla") -> dict[str, Run]:
    """Full-batch training of ``network`` in every backend from the same ``params``.

    Steps run in chunks of ``chunk`` (the progress bar moves once per chunk; optimizers
    whose state would be lost between chunks are refused).  ``ms_per_step`` is the median
    over chunks after the first (the first one compiles).  ``jax_impl``: the JAX
    backend's kernel set (:func:`build_network`).
    """
    from tqdm.auto import tqdm

    if optimizer != "sgd" or hyper.get("momentum"):
        raise ValueError("chunked full-batch training needs a stateless optimizer "
                         "(plain sgd)")
    runs = {}
    total = steps * len(backends)
    with tqdm(total=total, desc=f"{network}", unit="step", disable=not progress) as bar:
        for backend in backends:
            bar.set_postfix_str(backend)
            net = build_network(network, backend, config, jax_impl)
            p, losses, times = dict(params), [], []
            done = 0
            while done < steps:
                n = min(chunk, steps - done)
                t0 = time.perf_counter()
                p, chunk_losses = net.train(p, batch, optimizer, steps=n, **hyper)
                times.append((time.perf_counter() - t0) / n)
                losses.append(chunk_losses)
                done += n
                bar.update(n)
            timed = times[1:] or times
            runs[backend] = Run(backend, np.concatenate(losses), p,
                                1e3 * float(np.median(timed)))
    return runs


def accuracy(net, params: dict, x: np.ndarray, y: np.ndarray, batch_size: int = 10000) -> float:
    """Fraction of ``argmax(logits) == y``, evaluated in batches."""
    correct = 0
    for i in range(0, len(x), batch_size):
        logits = net.forward(params, {"x": x[i:i + batch_size]})
        correct += int((logits.argmax(axis=1) == y[i:i + batch_size]).sum())
    return correct / len(x)


def deviation(runs: dict[str, Run], reference: str = "numpy") -> dict[str, dict]:
    """Per backend: the largest per-step loss deviation and the final-params deviation
    from ``reference`` (both as :func:`mlsandbox.compare.rel_err`)."""
    if reference not in runs:
        return {b: {"loss": float("nan"), "params": float("nan")} for b in runs}
    ref = runs[reference]
    out = {}
    for b, run in runs.items():
        step_err = max(rel_err(a, w) for a, w in zip(run.losses, ref.losses))
        par_err = max(rel_err(run.params[k], ref.params[k]) for k in ref.params)
        out[b] = {"loss": step_err, "params": par_err}
    return out


def plot_loss_curves(runs: dict[str, Run], title: str, reference: str = "numpy"):
    """Loss curves overlaid (left) and the largest relative deviation from the reference
    so far (right, log scale; exact agreement is drawn at 1e-17)."""
    fig, (ax, ax_dev) = new_figure(1, 2, figsize=(11, 4.2))
    fig.suptitle(title)
    styles = ["-", "--", ":", "-."]
    for i, (b, run) in enumerate(runs.items()):
        ax.plot(run.losses, styles[i % 4], color=COLORS.get(b), label=b, lw=1.6)
    ax.set(xlabel="step", ylabel="loss", title="loss curves, overlaid")
    ax.legend()
    if reference in runs:
        ref = runs[reference].losses
        for b, run in runs.items():
            if b == reference:
                continue
            dev = np.abs(run.losses - ref) / np.maximum(1.0, np.abs(ref))
            ax_dev.semilogy(np.maximum(np.maximum.accumulate(dev), 1e-17),
                            color=COLORS.get(b), label=b, lw=1.4)
        ax_dev.set(xlabel="step", ylabel=f"max |loss − {reference}| so far (relative)",
                   title=f"deviation from the {reference} reference")
        ax_dev.legend()
    else:
        ax_dev.set_axis_off()
    return fig


def versions(backends: Sequence[str]) -> dict[str, str]:
    """Framework versions of the backends used (for the report)."""
    import importlib.metadata as md

    dist = {"numpy": "numpy", "jax": "jax", "torch": "torch", "keras": "keras"}
    out = {}
    for b in backends:
        try:
            out[b] = md.version(dist[b])
        except md.PackageNotFoundError:
            out[b] = "?"
    return out


