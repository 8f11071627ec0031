"""``mlsandbox study`` without a study name: every study, and one report of them all.

Each study runs through its own ``write(config, report)`` into a section of one
:class:`~mlsandbox.report.Report` (its tables, loss curves and metrics, as in its own
report), on the data it picks itself (its real data set when found, else its embedded
default; a study whose data is missing is skipped and the report says why), with the
settings of :data:`SETTINGS`, which bound the whole run to minutes on 2 cores.  Around
the sections the report has

* the parity heatmap: network x backend, each cell the worst ``rel_err / tolerance``
  (forward, loss and gradients against the NumPy reference on the spec's parity example,
  float64 and float32; :mod:`mlsandbox.compare` holds the metric and the tolerances);
* the speed chart: ms per training step per backend for every step a study timed, log
  scale, with the step's compute floor (:func:`step_flops` / :func:`mlsandbox.machine.matmul_peak`);
* the accuracy table of every study, and the conventions table of
  ``docs/conventions.md`` (its source);
* the machine (:func:`mlsandbox.machine.summary`), the allocator and the date.

The folder (default ``reports/all``) holds ``report.html`` (self-contained: figures
embedded), ``report.md``, ``metrics.json`` and the figures.  ``--only`` and ``--skip``
select parts (``parity`` and study names); every flag and every study's settings are
checked before anything runs.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import shutil
import time
from pathlib import Path

import numpy as np

import models
from mlsandbox import machine
from mlsandbox.compare import TOLERANCE, max_rel_err, rel_err, tolerance
from mlsandbox.report import Report, new_figure
from mlsandbox.studies import common

HELP = "every study, and one report of them all (reports/all/report.html)"
DEFAULT_OUT = "reports/all"
TITLE = "ML Sandbox: every network, every framework, one report"
#: the part that is not a study: the parity heatmap
PARITY = "parity"
#: per study, the settings of this run (the rest are the study's defaults): short enough
#: that every study together takes minutes on 2 cores; the report lists them
SETTINGS = {
    "mlp": {"steps": 200},
    "optimizers": {"epochs": 3, "train_limit": 6000},
    "logreg": {"n_splits": 3, "grid_C": "0.1,1,10"},
    "tinyvgg": {"epochs": 2},
    "cnn": {"epochs": 1, "train_limit": 2048},
    "text": {"epochs": 2, "train_limit": 1000, "tfidf": "unigrams"},
    "bert": {"model": "tiny", "mlm_steps": 20, "train_limit": 64, "test_limit": 64},
}
#: the source of the conventions table
CONVENTIONS = Path(__file__).resolve().parents[2] / "docs" / "conventions.md"
#: where the conventions table starts in it (what comes before is the parity policy)
CONVENTIONS_START = "# Conventions that differ between frameworks"


@dataclasses.dataclass
class Config:
    """The flags of ``mlsandbox study`` without a study name."""

    only: str = dataclasses.field(default="", metadata={
        "help": "comma list of the parts to run: parity and study names (default: all)"})
    skip: str = dataclasses.field(default="", metadata={
        "help": "comma list of parts to leave out (parity, study names)"})
    data_dir: str = common.data_dir_field()
    backends: str = common.backends_field()
    progress: bool = common.progress_field()

    def parts(self, studies: tuple[str, ...]) -> tuple[str, ...]:
        """The parts to run, in report order; ValueError naming an unknown or repeated
        part, or a selection that leaves nothing."""
        known = (PARITY, *studies)
        only, skip = (common.comma_names(text, known, "part", flag)
                      for flag, text in (("--only", self.only), ("--skip", self.skip)))
        chosen = only or known
        parts = tuple(p for p in known if p in chosen and p not in skip)
        if not parts:
            raise ValueError(f"--only {self.only!r} with --skip {self.skip!r} leaves "
                             "nothing to run")
        return parts


def ordered(found: dict) -> tuple[str, ...]:
    """The studies in the report's order: those of :data:`SETTINGS` as listed there (the
    curriculum's), then any other, by name."""
    return (*(n for n in SETTINGS if n in found), *sorted(n for n in found if n not in SETTINGS))


def study_configs(config: Config, parts, found: dict, backends: str,
                  settings: dict) -> dict:
    """``{study: its Config}`` for this run: :data:`SETTINGS` (or ``settings``), and this
    run's data directory, backends and progress; each checked as its own flags are."""
    out = {}
    for name in parts:
        if name == PARITY:
            continue
        cls = found[name].Config
        fields = {f.name for f in dataclasses.fields(cls)}
        values = dict(settings.get(name, {}))
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"settings of study {name}: no such field(s) {unknown}")
        for field, value in (("progress", config.progress), ("backends", backends),
                             ("data_dir", config.data_dir)):
            if field in fields and (value or field == "progress"):
                values[field] = value
        out[name] = cls(**values)
        common.validate_config(out[name])
    return out


# -- backends ----------------------------------------------------------------------------
def installed_backends(requested) -> tuple[tuple[str, ...], dict[str, str]]:
    """``(backends whose framework imports, {backend: why not} for the others)`` among
    ``requested`` (every backend for None)."""
    have, missing = [], {}
    for b in requested or models.BACKENDS:
        try:
            models.environment(b)
        except models.FrameworkMissing as exc:
            missing[b] = str(exc)
        else:
            have.append(b)
    return tuple(have), missing


# -- parity ------------------------------------------------------------------------------
def parity_example(name: str):
    """``(config, n)`` of network ``name``'s parity case (its spec's ``parity``): the
    small config and the smallest batch size above 1 it is tested with."""
    case = type(models.spec(name)).parity
    sizes = tuple(case["sizes"])
    return dict(case["config"]), next((n for n in sizes if n > 1), sizes[0])


def parity_cell(name: str, backend: str, dtype: str, reference: dict) -> dict:
    """``backend``'s relative errors (:func:`mlsandbox.compare.rel_err`) against the
    reference answers ``reference`` (:func:`reference_answers`): ``forward``, ``loss``,
    ``grads`` (the worst parameter), ``ratio``, the largest of them over its tolerance,
    and ``worst``, which one that is."""
    config, _ = parity_example(name)
    net = models.get(name, backend, **config)
    logits = net.forward(reference["params"], reference["batch"])
    loss, grads = net.loss_and_grads(reference["params"], reference["batch"])
    errs = {"forward": rel_err(logits, reference["forward"]),
            "loss": rel_err(loss, reference["loss"]),
            "grads": max(max_rel_err(grads, reference["grads"]).values())}
    ratios = {k: e / tolerance(dtype, "grad" if k == "grads" else "value")
              for k, e in errs.items()}
    errs["worst"] = max(ratios, key=ratios.get)
    errs["ratio"] = ratios[errs["worst"]]
    return errs


def reference_answers(name: str, dtype: str) -> dict:
    """The parity example of ``name`` (params from seed 1, a batch from seed 2, as the
    parity suite draws them) and the NumPy reference's forward, loss and gradients."""
    config, n = parity_example(name)
    spec = models.spec(name, **config)
    params = spec.init(seed=1, dtype=dtype)
    batch = spec.example(n=n, seed=2, dtype=dtype)
    ref = models.get(name, models.REFERENCE, **config)
    loss, grads = ref.loss_and_grads(params, batch)
    return {"params": params, "batch": batch, "forward": ref.forward(params, batch),
            "loss": loss, "grads": grads, "n": n}


#: the dtypes of the heatmap: those the parity policy has tolerances for (the parity
#: suite's DTYPES live in mlsandbox/testing, which needs pytest; this reads the one table)
PARITY_DTYPES = tuple(dict.fromkeys(dtype for dtype, _ in TOLERANCE))


def parity_grid(peers, bar) -> dict:
    """``{network: {backend: {dtype: errors}}}`` over every registered network (a
    backend a network is not written in: absent)."""
    out = {}
    for name in models.NETWORKS:
        out[name] = {}
        for dtype in PARITY_DTYPES:
            ref = None
            for b in peers:
                bar.set_postfix_str(f"parity {name}/{b} {dtype}")
                if b in models.available(name):
                    ref = ref or reference_answers(name, dtype)
                    out[name].setdefault(b, {})[dtype] = parity_cell(name, b, dtype, ref)
                bar.update(1)
    return out


def plot_parity(grid: dict, peers):
    """The heatmap: one row per network, one column per backend, colour and label the
    worst error over its tolerance (green below 1, red above)."""
    from matplotlib.colors import TwoSlopeNorm

    names = list(grid)
    ratio = np.full((len(names), len(peers)), np.nan)
    for i, name in enumerate(names):
        for j, b in enumerate(peers):
            cells = grid[name].get(b)
            if cells:
                ratio[i, j] = max(c["ratio"] for c in cells.values())
    fig, ax = new_figure(figsize=(1.6 + 1.5 * len(peers), 0.9 + 0.5 * len(names)))
    shown = np.log10(np.maximum(ratio, 1e-12))
    norm = TwoSlopeNorm(vmin=-8, vcenter=0, vmax=2)
    im = ax.imshow(np.clip(shown, -8, 2), cmap="RdYlGn_r", norm=norm, aspect="auto")
    for i in range(len(names)):
        for j in range(len(peers)):
            text = "not written" if np.isnan(ratio[i, j]) else f"{ratio[i, j]:.1g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(peers)), peers)
    ax.set_yticks(range(len(names)), names)
    ax.set_title("worst relative error / tolerance vs NumPy\n(forward, loss, gradients; "
                 "float64 and float32)", fontsize=10)
    bar = fig.colorbar(im, ax=ax, ticks=[-8, -6, -4, -2, 0, 2])
    bar.set_ticklabels(["1e-8", "1e-6", "1e-4", "1e-2", "1 (tolerance)", "100"])
    return fig


# -- speed and the compute floor ----------------------------------------------------------
def step_flops(speed: common.Speed) -> float | None:
    """Floating-point operations of the step's forward and backward pass, as torch's
    ``FlopCounterMode`` counts them (matrix products, convolutions and attention; no
    elementwise work, no optimizer update) through the torch backend's
    ``loss_and_grads`` on the step's batch; None where torch or its port is missing."""
    if "torch" not in models.available(speed.network):
        return None
    try:
        from torch.utils.flop_counter import FlopCounterMode

        net = models.get(speed.network, "torch", **speed.config)
    except (ImportError, models.FrameworkMissing):
        return None
    params = net.spec.init(seed=0, dtype=speed.dtype)
    with FlopCounterMode(display=False) as counter:
        net.loss_and_grads(params, speed.batch)
    return float(counter.get_total_flops())


def plot_speed(rows: list[dict], backends):
    """ms per step, one group of bars per timed step, log scale; the compute floor of
    each step a black mark."""
    fig, ax = new_figure(figsize=(10, 1.2 + 0.22 * len(rows) * max(1, len(backends))))
    height = 0.8 / max(1, len(backends))
    for j, b in enumerate(backends):
        ys = [i + (j - (len(backends) - 1) / 2) * height for i in range(len(rows))]
        ms = [r["ms"].get(b, np.nan) for r in rows]
        ax.barh(ys, ms, height=height, color=common.COLORS.get(b), label=b)
    floors = [(i, r["floor_ms"]) for i, r in enumerate(rows) if r["floor_ms"] is not None]
    if floors:
        ax.vlines([f for _, f in floors], [i - 0.45 for i, _ in floors],
                  [i + 0.45 for i, _ in floors], colors="black", lw=2.5, zorder=3,
                  label="compute floor (FLOPs / measured peak)")
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("ms per training step (log scale)")
    ax.set_title("time per training step, per backend")
    ax.grid(axis="x", which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def speed_rows(summaries: dict, peak: dict | None, bar) -> list[dict]:
    """One row per timed step of every study: label, ms per backend, FLOPs and floor."""
    rows = []
    for study, summary in summaries.items():
        for s in summary.speed:
            bar.set_postfix_str(f"FLOPs of {study}: {s.network}")
            flops = step_flops(s) if peak is not None else None
            floor = None
            if flops and peak and s.dtype == peak["dtype"]:
                floor = 1e3 * flops / peak["flops_per_s"]
            label = f"{study}: {s.step}" if study == s.network else \
                f"{study}: {s.network}, {s.step}"
            rows.append({"study": study, "network": s.network, "step": s.step,
                         "label": label, "ms": s.ms,
                         "dtype": s.dtype, "flops": flops, "floor_ms": floor})
    return rows


# -- conventions ------------------------------------------------------------------------
def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.strip().replace("\\|", "|") for c in cells]


def write_conventions(report, path: Path = CONVENTIONS) -> None:
    """The conventions tables of ``docs/conventions.md`` (from its
    :data:`CONVENTIONS_START` heading on), with their headings and text, into ``report``."""
    if not path.is_file():
        report.heading("Conventions that differ between frameworks")
        report.text(f"{path} is not here (the docs are not installed with the package); "
                    "the table is docs/conventions.md in the repository.")
        return
    lines = path.read_text().splitlines()
    if CONVENTIONS_START not in lines:
        raise ValueError(f"{path}: no heading {CONVENTIONS_START!r} to start the "
                         "conventions table at")
    para, table = [], []

    def flush():
        if para:
            report.text(" ".join(para))
            para.clear()
        if table:
            report.table(_cells(table[0]), [_cells(t) for t in table[2:]])
            table.clear()

    for line in lines[lines.index(CONVENTIONS_START):]:
        if line.startswith("#"):
            flush()
            level = len(line) - len(line.lstrip("#"))
            report.heading(line.lstrip("#").strip(), level + 1)
        elif line.startswith("|"):
            if para:
                flush()
            table.append(line)
        elif line.strip():
            if table:
                flush()
            para.append(line.strip())
        else:
            flush()
    flush()


# -- the run -----------------------------------------------------------------------------
def _percent(v) -> str:
    return "–" if v is None or v != v else f"{100 * v:.2f}%"


def _settings_text(name: str, settings: dict) -> str:
    flags = [f"--{k.replace('_', '-')} {v if v != '' else repr(v)}"
             for k, v in settings.get(name, {}).items()]
    return ", ".join(flags) or "its defaults"


def run(config: Config, out_dir, settings: dict | None = None) -> Path:
    """Every selected part into one report at ``out_dir``; ``settings`` replaces
    :data:`SETTINGS` (tests run tiny ones).  Returns ``out_dir``."""
    from tqdm.auto import tqdm

    from mlsandbox import studies

    settings = SETTINGS if settings is None else settings
    found = studies.discover()
    common.validate_config(config)
    parts = config.parts(ordered(found))
    requested = common.backend_names(config.backends)
    configs = study_configs(config, parts, found, config.backends, settings)  # all checked
    started = datetime.datetime.now().astimezone()

    with tqdm(desc="study (all)", unit="part", disable=not config.progress) as bar:
        bar.set_postfix_str("importing the frameworks")
        backends, missing = installed_backends(requested)
        if not backends:
            raise ValueError(f"none of the backends {list(requested or models.BACKENDS)} "
                             f"can be imported: {'; '.join(missing.values())}")
        if missing:  # the studies run the backends that are there
            configs = study_configs(config, parts, found, ",".join(backends), settings)
        peers = tuple(b for b in backends if b != models.REFERENCE)
        n_parity = len(models.NETWORKS) * len(PARITY_DTYPES) * len(peers) \
            if PARITY in parts else 0
        bar.reset(total=n_parity + len(configs) + 1)
        with Report(out_dir, TITLE, html=True) as report:
            _run_parts(report, bar, parts, configs, found, settings, backends, missing,
                       peers, n_parity, started)
        bar.set_postfix_str("written")
    return Path(out_dir)


def _run_parts(report, bar, parts, configs, found, settings, backends, missing, peers,
               n_parity, started) -> None:
    """The parity grid, the studies and the floors, then the report in its order."""
    from mlsandbox.alloc import describe as describe_allocator
    from mlsandbox.data import DataNotFoundError

    seconds = {}
    t0 = time.perf_counter()
    grid = parity_grid(peers, bar) if n_parity else None
    if grid is not None:
        seconds[PARITY] = time.perf_counter() - t0
    summaries, sections, skipped = {}, {}, {}
    for name, study_config in configs.items():
        bar.set_postfix_str(f"study {name}")
        section = report.section(name, key="studies")
        t0 = time.perf_counter()
        try:
            summaries[name] = found[name].write(study_config, section)
            sections[name] = section
        except DataNotFoundError as exc:
            skipped[name] = str(exc)
            shutil.rmtree(report.path / name, ignore_errors=True)
        seconds[name] = time.perf_counter() - t0
        bar.update(1)
    bar.set_postfix_str("compute floors")
    t0 = time.perf_counter()
    timed = any(s.speed for s in summaries.values())
    peak = machine.matmul_peak() if timed else None
    rows = speed_rows(summaries, peak, bar) if timed else []
    seconds["floors"] = time.perf_counter() - t0
    bar.update(1)

    report.text(
        f"Run on {started:%Y-%m-%d %H:%M %Z}. Machine: {machine.summary()}; allocator: "
        f"{describe_allocator()}. Backends: {', '.join(backends)}"
        + "".join(f"; {b} skipped: {why}" for b, why in missing.items()) + ".")
    _write_ran_on(report, configs, summaries, skipped, settings, seconds)
    if grid is not None:
        _write_parity(report, grid, peers)
    if rows:
        _write_speed(report, rows, backends, peak)
    if summaries:
        _write_accuracy(report, summaries)
    for name, section in sections.items():
        report.append(section)
    write_conventions(report)
    report.metrics({
        "date": started.isoformat(timespec="seconds"), "machine": machine.summary(),
        "allocator": describe_allocator(), "parts": list(parts),
        "backends": list(backends), "missing_backends": missing,
        "settings": {n: settings.get(n, {}) for n in configs},
        "skipped": skipped, "seconds": seconds,
        "tolerance": {f"{d}/{k}": v for (d, k), v in TOLERANCE.items()},
        "parity": grid if grid is not None else {},
        "peak": peak, "speed": rows,
        "accuracy": {n: s.accuracy for n, s in summaries.items()},
        "data": {n: s.data for n, s in summaries.items()}})
    bar.set_postfix_str("writing")


def _write_ran_on(report, configs, summaries, skipped, settings, seconds) -> None:
    report.heading("What each study ran on")
    report.text("Each study picks its data itself: its real data set when it is in the "
                "data directory (`--data-dir`, else `$MLSANDBOX_DATA`, else the user "
                "cache), else the default embedded in the package; this run's settings "
                "keep every study short (`mlsandbox study <name>` runs one in full).")
    rows = []
    for name in configs:
        data = summaries[name].data if name in summaries else "–"
        status = "ran" if name in summaries else f"skipped: {skipped[name]}"
        rows.append([name, data, _settings_text(name, settings), status,
                     f"{seconds[name]:.0f}"])
    report.table(["study", "data", "settings of this run", "status", "seconds"], rows)
    report.text("Also timed: " + ", ".join(
        f"{'the parity grid' if k == PARITY else 'the compute floors'} {v:.0f} s"
        for k, v in seconds.items() if k not in configs) + ".")


def _write_parity(report, grid, peers) -> None:
    report.heading("Parity with the NumPy reference")
    tol = ", ".join(f"{d} {k} {v:g}" for (d, k), v in TOLERANCE.items())
    report.text(
        "Per tensor `max|got − want| / max(1, max|want|)` against the NumPy reference, on "
        "each network's parity example (its spec's small config, params from seed 1, a "
        "batch from seed 2, eval mode), divided by its tolerance "
        f"(mlsandbox/compare.py: {tol}). A cell is the worst of the forward output, the "
        "loss and every gradient in float64 and float32: below 1 passes.")
    report.figure("parity.png", plot_parity(grid, peers), "parity heatmap: worst error / "
                  "tolerance, network x backend")
    rows = []
    for name, by_backend in grid.items():
        for b, cells in by_backend.items():
            dtype = max(cells, key=lambda d: cells[d]["ratio"])
            rows.append([name, b, *(cells[d]["ratio"] if d in cells else float("nan")
                                    for d in PARITY_DTYPES), f"{cells[dtype]['worst']} ({dtype})"])
    report.table(["network", "backend", *(f"{d}: worst / tol" for d in PARITY_DTYPES),
                  "worst part"], rows)


def _write_speed(report, rows, backends, peak) -> None:
    report.heading("Speed")
    known = [r for r in rows if r["floor_ms"] is not None]
    report.text(
        "Milliseconds per training step as each study timed it (the median after the "
        "first, compiling, chunk), float32. The compute floor of a step is its FLOPs over "
        f"the peak measured here: {peak['flops_per_s'] / 1e9:.0f} GFLOP/s, the fastest of "
        f"{peak['n']} x {peak['n']} {peak['dtype']} matrix products ({peak['by']}). The "
        "FLOPs are those of the step's forward and backward pass as torch's "
        "FlopCounterMode counts them (matrix products, convolutions, attention; no "
        "elementwise work, no optimizer update), so the floor is a lower bound: small "
        "steps are bound by memory traffic and per-call overheads long before it. "
        + (f"The floor is marked for {len(known)} of {len(rows)} steps; the others have "
           "no torch port to count with or are not float32." if len(known) < len(rows)
           else "Every step has its floor marked.")
        + " The logistic-regression study times whole Newton fits, not steps (its "
          "section has them).")
    report.figure("speed.png", plot_speed(rows, backends), "ms per step per backend, "
                  "log scale, compute floor marked")
    report.table(["step", *backends, "GFLOP", "floor ms"],
                 [[r["label"], *(r["ms"].get(b, float("nan")) for b in backends),
                   r["flops"] / 1e9 if r["flops"] else float("nan"),
                   r["floor_ms"] if r["floor_ms"] is not None else float("nan")]
                  for r in rows])


def _write_accuracy(report, summaries) -> None:
    report.heading("Accuracy")
    columns = list(models.BACKENDS)
    for s in summaries.values():
        for by in s.accuracy.values():
            columns += [k for k in by if k not in columns]
    rows = [[name, what, *(_percent(by.get(c)) for c in columns)]
            for name, s in summaries.items() for what, by in s.accuracy.items()]
    report.text("Test accuracy of every study and framework (`sklearn`: scikit-learn's "
                "estimator, the classical track's reference). Each study's section has "
                "the rest: losses, deviations from NumPy, timings.")
    report.table(["study", "what", *columns], rows)
