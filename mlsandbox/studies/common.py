"""What the network studies share: flags and their checks, data selection, side-by-side
training, plots.

Every flag of a study is a field of its ``Config`` dataclass.  :func:`validate_config`
checks them all before anything is loaded or trained (the CLI calls it first), so a bad
value is refused at once with a message naming the flag, the value and what is expected.
The rules are :data:`FLAG_RULES` (by field name: ``--steps``, ``--seed``, ``--chunk``
...), a field's own ``metadata["check"]``, the study's ``Config.check()`` when it has
one, and for every float field: finite.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import models
from mlsandbox.compare import rel_err
from mlsandbox.report import Report, new_figure


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


def download_field():
    return dataclasses.field(default=False, metadata={
        "help": "download missing data into the data directory (from the canonical "
                "source, sha256-checked)"})


def jax_impl_field():
    return dataclasses.field(default="auto", metadata={
        "help": "the JAX column's kernels: auto (the set measured fastest on this "
                "machine's instruction set), xla (the Flax model as written) or a "
                "kernels/accel set (mlp: fused, onednn; tinyvgg, cnn: fast, onednn)"})


def build_network(name: str, backend: str, config: dict, jax_impl: str = "xla"):
    """``models.get(name, backend, **config)``, the JAX backend with kernel set
    ``jax_impl`` (``impl=``; the other backends have none)."""
    options = {"impl": jax_impl} if backend == "jax" and jax_impl != "xla" else {}
    return models.get(name, backend, **config, **options)


def jax_impl_note(jax_impl: str, backends, network: str | None = None) -> str:
    """A sentence for the report when the JAX column runs a kernels/accel set (``auto``
    named with the set it picked for ``network``)."""
    if jax_impl == "xla" or "jax" not in backends:
        return ""
    picked = ""
    if jax_impl == "auto" and network is not None:
        impl = models.get(network, "jax", impl="auto").impl
        if impl == "xla":
            return ""
        picked = f" (here: `{impl}`)"
    return (f" The JAX column runs the `kernels/accel` kernel set `impl=\"{jax_impl}\"`"
            f"{picked} (same numbers as the Flax model, checked in parity/test_accel.py).")


COLORS = {"numpy": "#4c72b0", "jax": "#dd8452", "torch": "#c44e52", "keras": "#55a868"}


# -- checking the flags ----------------------------------------------------------------
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive_int(v) -> str | None:
    return None if _is_int(v) and v >= 1 else "an integer >= 1"


def _count(v) -> str | None:
    return None if _is_int(v) and v >= 0 else "an integer >= 0 (0: off / all)"


def _seed(v) -> str | None:
    return None if _is_int(v) and 0 <= v < 2**32 else "an integer in [0, 2**32)"


def _positive(v) -> str | None:
    return None if isinstance(v, (int, float)) and math.isfinite(v) and v > 0 else \
        "a finite number > 0"


def _momentum(v) -> str | None:
    return None if isinstance(v, (int, float)) and 0 <= v < 1 else "a number in [0, 1)"


def _dtype(v) -> str | None:
    return None if v in ("float32", "float64") else "float32 or float64"


def _backends(v) -> str | None:
    try:
        backend_names(v)
    except ValueError as exc:
        return str(exc)
    return None


#: field name -> check(value) returning None when fine, else what was expected
FLAG_RULES: dict[str, Callable[[object], str | None]] = {
    "steps": _positive_int, "epochs": _positive_int, "batch_size": _positive_int,
    "chunk": _positive_int, "hidden": _positive_int, "devices": _positive_int,
    "seed": _seed, "train_limit": _count, "torch_threads": _count,
    "lr": _positive, "sgd_lr": _positive, "momentum_lr": _positive, "adam_lr": _positive,
    "init_scale": _positive, "momentum": _momentum,
    "dtype": _dtype, "backends": _backends,
}


def validate_config(config, *, download: bool = False) -> None:
    """Check every field of a study's ``config`` before anything runs; raise ValueError
    naming the flag (``--steps``), the value given and what is expected.

    Besides :data:`FLAG_RULES`: every float field must be finite; a field's
    ``metadata["check"]`` (same signature as a rule) applies; ``data_dir`` when given must
    be an existing folder (unless ``download``: then it is created); ``checkpoint_dir``
    when it exists must be a folder; and the study's own ``config.check()`` runs last.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        checks = [FLAG_RULES.get(f.name), f.metadata.get("check")]
        if isinstance(value, float):
            checks.insert(0, lambda v: None if math.isfinite(v) else "a finite number")
        for check in filter(None, checks):
            want = check(value)
            if want is not None:
                if f.name == "backends":  # the message says it all
                    raise ValueError(f"{_flag(f.name)} {value!r}: {want}")
                raise ValueError(f"{_flag(f.name)} {value!r}: expected {want}")
    data_dir = getattr(config, "data_dir", "") or ""
    if data_dir:
        path = Path(data_dir).expanduser()
        if path.exists() and not path.is_dir():
            raise ValueError(f"--data-dir {data_dir!r}: {path} is not a folder")
        if not path.exists() and not download:
            raise ValueError(f"--data-dir {data_dir!r}: no such folder {path.absolute()} "
                             "(check the spelling; add --download to fetch the data into "
                             "it, or leave --data-dir out to use $MLSANDBOX_DATA or the "
                             "user cache)")
    checkpoint_dir = getattr(config, "checkpoint_dir", "") or ""
    if checkpoint_dir and Path(checkpoint_dir).exists() and not Path(checkpoint_dir).is_dir():
        raise ValueError(f"--checkpoint-dir {checkpoint_dir!r} exists and is not a folder")
    if callable(getattr(config, "check", None)):
        config.check()


def comma_names(text: str, known, what: str, flag: str = "", also: str = ""
                ) -> tuple[str, ...]:
    """The names of a comma list ``text`` (``flag`` names the option in messages), each
    one of ``known``, none twice; ValueError listing the valid ones (and ``also``, the
    other values the option takes) otherwise."""
    at = f"{flag} {text!r}" if flag else repr(text)
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"{at}: unknown {what}(s) {bad}; expected a comma list of "
                         f"{list(known)}{also}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{at}: {what}(s) {twice} named twice")
    return names


def backend_names(text: str) -> tuple[str, ...] | None:
    """The backends named in ``text`` (``None`` for ``"all"``); ValueError for an empty
    list or unknown names, listing the valid ones."""
    if text.strip() == "all":
        return None
    names = comma_names(text, models.BACKENDS, "backend", also=" or 'all'")
    if not names:
        raise ValueError(f"no backend named in {text!r}; expected a comma list of "
                         f"{list(models.BACKENDS)} or 'all'")
    return names


def parse_backends(text: str, network: str) -> tuple[str, ...]:
    """``"numpy,jax"`` -> ("numpy", "jax"); ``"all"`` -> every backend the network has."""
    names = backend_names(text)
    have = models.available(network)
    if names is None:
        return have
    missing = [b for b in names if b not in have]
    if missing:
        raise ValueError(f"{network} is not written in {missing} (it has {list(have)})")
    return names


def load_classification_data(data: str, data_dir=None, download: bool | None = None):
    """``(Dataset, description)`` for ``data`` in {"auto", "mnist", "fashion", "digits"}.

    ``auto`` takes MNIST when its files are in the data directory and the embedded
    scikit-learn digits otherwise, but only when no ``data_dir`` was given and no
    download asked for: a ``data_dir`` without MNIST is an error naming it, never a
    silent switch to the digits.  ``download``: as the loaders' (``None`` follows
    :func:`mlsandbox.data.downloads_allowed`, the CLI's ``--download``).
    """
    from mlsandbox import data as D

    if data not in ("auto", "mnist", "fashion", "digits"):
        raise ValueError(f"--data must be auto, mnist, fashion or digits, got {data!r}")
    if data == "auto":
        if data_dir or D.sources.download_wanted(download):
            return D.load_mnist(data_dir=data_dir, download=download, progress=False), "MNIST"
        try:
            return D.load_mnist(data_dir=data_dir, download=False, progress=False), "MNIST"
        except D.DataNotFoundError:
            return D.load_digits(), "scikit-learn digits (embedded default; no MNIST found)"
    if data == "mnist":
        return D.load_mnist(data_dir=data_dir, download=download), "MNIST"
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


def devices_field():
    return dataclasses.field(default=1, metadata={
        "help": "data-parallel devices per framework (JAX: simulated CPU devices unless "
                "there are accelerators; torch: gloo ranks; Keras: MirroredStrategy); the "
                "NumPy reference runs on one"})


def prepare_devices(devices: int, n: int, backends: Sequence[str]) -> None:
    """Before any framework starts: the batch of ``n`` examples must split into
    ``devices`` shards, and JAX and TensorFlow (when they are among ``backends``) get
    that many CPU devices."""
    if devices > 1:
        if n % devices:
            raise ValueError(f"--devices {devices}: the full batch of {n} examples does not "
                             f"split into {devices} equal shards")
        from models.frameworks import cpu_devices

        cpu_devices(devices, backends)


def devices_note(devices: int, backends) -> str:
    """A sentence for the report of a data-parallel run."""
    if devices == 1:
        return ""
    engines = {b: models.data_parallel(b) for b in backends}
    wide = [f"{b}: {p.engine}" + (f" over {devices} processes" if p.processes else "")
            for b, p in engines.items() if p.engine]
    one = [b for b, p in engines.items() if not p.engine]
    return (f" Data-parallel on {devices} devices ({'; '.join(wide)})"
            + (f", {', '.join(one)} on one" if one else "")
            + "; simulated CPU devices share this machine's cores, so ms/step shows the "
              "engines' overhead, not a speed-up (docs/parallel.md).")


def train_side_by_side(network: str, config: dict, params: dict, batch: dict, *,
                       steps: int, chunk: int, optimizer: str, hyper: dict,
                       backends: Sequence[str], progress: bool = True,
                       jax_impl: str = "xla", devices: int = 1) -> dict[str, Run]:
    """Full-batch training of ``network`` in every backend from the same ``params``,
    through each network's own trainer (the one training step of its framework).

    Steps run in chunks of ``chunk`` on one trainer per backend (the optimizer state
    carries over; the progress bar moves once per chunk).  ``ms_per_step`` is the median
    over chunks after the first (the first one compiles).  ``jax_impl``: the JAX
    backend's kernel set (:func:`build_network`).  ``devices``: data-parallel width of
    every backend with an engine for it (:func:`prepare_devices` first); torch's ranks
    are started here (:mod:`mlsandbox.engine.launch`), the reference trains on one.
    """
    from tqdm.auto import tqdm

    from mlsandbox.engine import launch

    runs = {}
    total = steps * len(backends)
    with tqdm(total=total, desc=f"{network}", unit="step", disable=not progress) as bar:
        for backend in backends:
            parallel = models.data_parallel(backend)
            width = devices if parallel.engine else 1
            bar.set_postfix_str(backend if width == 1 else f"{backend} x{width}")
            # the kernel sets train on one device: data-parallel JAX runs the Flax model
            impl = "xla" if width > 1 and jax_impl == "auto" else jax_impl
            job = (network, backend, config, impl, params, batch, steps, chunk,
                   optimizer, hyper, width)
            if width > 1 and parallel.processes and not launch.in_group():
                runs[backend] = launch.ranks(width, _side_rank, job)
                bar.update(steps)
            else:
                runs[backend] = _side_run(*job, bar=bar)
    return runs


def _side_rank(rank: int, job: tuple) -> "Run":
    return _side_run(*job, bar=None)


def _side_run(network, backend, config, jax_impl, params, batch, steps, chunk, optimizer,
              hyper, devices, bar) -> "Run":
    """One backend's part of :func:`train_side_by_side`."""
    net = build_network(network, backend, config, jax_impl)
    trainer = net.trainer(params, optimizer, devices=devices, **hyper)
    b = trainer.put(batch)
    losses, times = [], []
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        t0 = time.perf_counter()
        losses.append(trainer.run(b, steps=n))
        times.append((time.perf_counter() - t0) / n)
        done += n
        if bar is not None:
            bar.update(n)
    timed = times[1:] or times
    return Run(backend, np.concatenate(losses), trainer.state()[0],
               1e3 * float(np.median(timed)))


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
        if len(runs) > 1:  # else there is no curve to label
            ax_dev.legend()
    else:
        ax_dev.set_axis_off()
    return fig


def plot_fit_runs(runs, title):
    """Engine runs (``{backend: FitResult}``) side by side: the step losses overlaid, and
    the test accuracy after each epoch."""
    fig, (ax, ax_acc) = new_figure(1, 2, figsize=(11, 4.2))
    fig.suptitle(title)
    styles = ["-", "--", ":", "-."]
    for i, (b, r) in enumerate(runs.items()):
        ax.plot(r.step_losses, styles[i % 4], color=COLORS.get(b), label=b, lw=1.2)
        ax_acc.plot(r.history["epoch"], r.history["val_accuracy"], styles[i % 4] + "o",
                    color=COLORS.get(b), label=b)
    ax.set(xlabel="step", ylabel="training loss", title="loss per step, overlaid")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy per epoch")
    ax.legend()
    ax_acc.legend()
    return fig


# -- what a study hands back (the all-studies report composes these) ---------------------
@dataclasses.dataclass
class Speed:
    """One timed training step of a study: milliseconds per step per backend, and the
    step itself (network, its config and a batch of the step's shape: enough to count the
    step's FLOPs)."""

    network: str
    config: dict
    batch: dict
    step: str                      # what the step is, e.g. "full-batch GD, 1437 x 64"
    ms: dict[str, float]
    dtype: str = "float32"


@dataclasses.dataclass
class Summary:
    """What a study's ``write(config, report)`` returns besides what it wrote: its title,
    what it ran on, its accuracies (``{what: {backend or estimator: fraction}}``) and
    its timed steps."""

    title: str
    data: str
    accuracy: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    speed: list[Speed] = dataclasses.field(default_factory=list)


def run_study(write, config, out_dir) -> Path:
    """A study's ``run``: ``write(config, report)`` into a new report at ``out_dir``
    (all or nothing, :class:`mlsandbox.report.Report`)."""
    with Report(out_dir) as report:
        write(config, report)
    return Path(out_dir)


def step_ms(network: str, config: dict, params: dict, batch: dict, *, optimizer: str,
            hyper: dict, backends: Sequence[str], jax_impl: str = "xla",
            steps: int = 6) -> dict[str, float]:
    """``{backend: ms per step}`` of ``steps`` training steps on ``batch`` (for studies
    whose training loop times epochs, evaluation included): :func:`train_side_by_side`
    in chunks of 2, the first chunk (which compiles) not counted."""
    runs = train_side_by_side(network, config, params, batch, steps=steps, chunk=2,
                              optimizer=optimizer, hyper=hyper, backends=backends,
                              progress=False, jax_impl=jax_impl)
    return {b: r.ms_per_step for b, r in runs.items()}


def versions(backends: Sequence[str]) -> dict[str, str]:
    """Framework versions of the backends used (for the report), from each adapter."""
    return {b: str(models.environment(b).get(b, "?")) for b in backends}


