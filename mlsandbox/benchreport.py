"""Benchmark tables, charts and comparisons from pytest-benchmark JSON files.

    mlsandbox bench-report run.json                 # tables + charts of one run
    mlsandbox bench-report before.json after.json   # and which rows got faster or slower

Input: the plain output of ``pytest --benchmark-json=FILE`` or the merged ``bench.json``
of ``mlsandbox bench`` (:mod:`mlsandbox.benchrun`), which holds every repeat of every
benchmark (``extra_info["repeat"]``).  Each benchmark is a *cell*: its group is the row,
its framework the column (:func:`column_label`).  A cell's figure is the median over the
rounds, over repeats the median of the per-repeat medians; its spread the interquartile
range (IQR) of the rounds.  The load every figure ran under (``extra_info["load"]``,
recorded by the test plugin with :func:`mlsandbox.machine.measure_load`) marks a figure
taken under load with a dagger and a footnote.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import models
from mlsandbox import machine
from mlsandbox.report import markdown_table

#: what a benchmark file must be, said in every error about one
EXPECTED = ("expected a pytest-benchmark JSON file (the output of pytest "
            "--benchmark-json=FILE, or the bench.json that mlsandbox bench writes)")

#: the JAX kernel sets (``models.get(net, "jax", impl=...)``) and the column (and the
#: process, see mlsandbox.benchrun) each is timed in: the pure-XLA sets share one, oneDNN
#: has its own, the Flax model as its users write it (``xla``) is plain "jax"
JAX_KERNEL_SETS = {"xla": "jax", "fused": "jax-fast", "fast": "jax-fast",
                   "onednn": "jax-onednn"}


def framework_columns() -> tuple[str, ...]:
    """The framework columns in table order: every backend, the JAX kernel sets right
    after plain JAX (``numpy, jax, jax-fast, jax-onednn, torch, keras``)."""
    out: list[str] = []
    for b in models.BACKENDS:
        out.append(b)
        if b == "jax":
            out += [c for c in dict.fromkeys(JAX_KERNEL_SETS.values()) if c != "jax"]
    return tuple(out)


#: how the framework columns are headed
TITLES = {"numpy": "NumPy", "jax": "JAX", "jax-fast": "JAX fast (XLA)",
          "jax-onednn": "JAX oneDNN", "torch": "PyTorch", "keras": "Keras (TF)"}
#: marks a figure taken under load
LOADED_MARK = "†"


class BenchFileError(ValueError):
    """A file that is not a readable pytest-benchmark JSON file (the message names it)."""


# ---------------------------------------------------------------- reading the files


def load(path) -> dict:
    """The pytest-benchmark document in ``path``, checked (:class:`BenchFileError`
    naming the file and what was expected otherwise)."""
    path = Path(path)
    if not path.exists():
        raise BenchFileError(f"{path}: no such file; {EXPECTED}")
    if path.is_dir():
        raise BenchFileError(f"{path} is a folder; {EXPECTED}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BenchFileError(f"{path}: not JSON (not UTF-8 text); {EXPECTED}") from None
    except json.JSONDecodeError as exc:
        raise BenchFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column "
                             f"{exc.colno}); {EXPECTED}") from None
    return validate(doc, str(path))


def validate(doc, source: str = "<document>") -> dict:
    """``doc`` if it has pytest-benchmark's shape: a ``benchmarks`` list of entries with
    a ``name`` (or ``fullname``) and ``stats`` holding a positive ``median``, ``iqr``
    and ``rounds``; else :class:`BenchFileError` naming ``source``."""
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise BenchFileError(f"{source}: not a pytest-benchmark file (no 'benchmarks' list "
                             f"at the top level); {EXPECTED}")
    if not doc["benchmarks"]:
        raise BenchFileError(f"{source}: holds no benchmarks (its 'benchmarks' list is "
                             f"empty); expected at least one timed benchmark")
    for i, entry in enumerate(doc["benchmarks"]):
        name = entry.get("fullname") or entry.get("name") if isinstance(entry, dict) else None
        stats = entry.get("stats") if isinstance(entry, dict) else None
        bad = [k for k in ("median", "iqr", "rounds") if not isinstance(stats, dict)
               or not isinstance(stats.get(k), (int, float)) or isinstance(stats.get(k), bool)
               or not math.isfinite(stats[k]) or stats[k] < 0]
        if not isinstance(name, str) or bad or stats["median"] <= 0:
            what = f"benchmark {i} ({name})" if isinstance(name, str) else f"benchmark {i}"
            raise BenchFileError(
                f"{source}: {what} is not a pytest-benchmark entry (it needs a 'name' and "
                f"'stats' with a positive 'median', 'iqr' and 'rounds'"
                f"{'; missing or bad: ' + ', '.join(bad) if bad else ''}); {EXPECTED}")
    return doc


# ---------------------------------------------------------------- cells: row x column


def group_of(entry: dict) -> str:
    """The row of an entry: its pytest-benchmark group, else its test function."""
    return entry.get("group") or (entry.get("name") or entry["fullname"]).split("[")[0]


def column_label(entry: dict, siblings: Sequence[dict]) -> str:
    """The column of ``entry`` among ``siblings`` (the entries of its group).

    In order: ``extra_info["column"]`` where a benchmark names its own; the kernel-set
    process the test plugin recorded (``extra_info["framework"]``: ``jax-fast``,
    ``jax-onednn``); the ``backend`` parameter; a JAX ``impl`` parameter
    (:data:`JAX_KERNEL_SETS`); the string parameters that vary within the group
    (``name="sklearn-lbfgs"``); the parametrization id.
    """
    extra = entry.get("extra_info") or {}
    if extra.get("column"):
        return str(extra["column"])
    fw = extra.get("framework")
    if fw in JAX_KERNEL_SETS.values() and fw != "jax":
        return fw
    params = entry.get("params") or {}
    if isinstance(params.get("backend"), str):
        return params["backend"]
    impl = params.get("impl")
    if isinstance(impl, str) and impl in JAX_KERNEL_SETS and fw in (None, "jax"):
        return JAX_KERNEL_SETS[impl]
    varying = [v for k, v in params.items() if isinstance(v, str)
               and any((s.get("params") or {}).get(k) != v for s in siblings)]
    if varying:
        return "-".join(varying)
    return entry.get("param") or entry.get("name") or entry["fullname"]


def role(column: str) -> str:
    """``"jax"`` (a JAX column: ``jax``, ``jax-*``, ``*-jax``), ``"reference"`` (the
    NumPy reference: ``numpy``, ``*-numpy``) or ``"peer"`` (every other framework, the
    ones JAX is measured against)."""
    if column == "jax" or column.startswith("jax-") or column.endswith("-jax"):
        return "jax"
    if column == models.REFERENCE or column.endswith(f"-{models.REFERENCE}"):
        return "reference"
    return "peer"


def title(column: str) -> str:
    return TITLES.get(column, column)


@dataclass
class Cell:
    """One benchmark (row ``group``, column ``column``) over its repeats."""

    group: str
    column: str
    fullname: str
    #: repeat number -> that run's pytest-benchmark stats (seconds)
    runs: dict[int, dict] = field(default_factory=dict)
    #: repeat number -> the load that run was under (may be empty)
    loads: dict[int, dict] = field(default_factory=dict)

    def _pooled(self, key: str) -> float:
        return statistics.median(float(s[key]) for s in self.runs.values())

    @property
    def median(self) -> float:
        """The median of the per-repeat medians (s)."""
        return self._pooled("median")

    @property
    def iqr(self) -> float:
        """The median of the per-repeat IQRs of the rounds (s)."""
        return self._pooled("iqr")

    @property
    def stddev(self) -> float:
        return self._pooled("stddev") if all("stddev" in s for s in self.runs.values()) \
            else float("nan")

    @property
    def minimum(self) -> float:
        return min(float(s.get("min", s["median"])) for s in self.runs.values())

    @property
    def rounds(self) -> int:
        return int(sum(s["rounds"] for s in self.runs.values()))

    @property
    def loaded(self) -> bool:
        """Whether any of its runs was taken under load."""
        return any(machine.under_load(v) for v in self.loads.values())


def cells(doc: dict) -> dict[tuple[str, str], Cell]:
    """Every benchmark of ``doc`` as a :class:`Cell`, keyed ``(group, column)``, in the
    order of the file.  Entries with the same ``fullname`` are repeats (numbered by
    ``extra_info["repeat"]``, else in file order)."""
    by_group: dict[str, list[dict]] = {}
    for entry in doc["benchmarks"]:
        by_group.setdefault(group_of(entry), []).append(entry)
    out: dict[tuple[str, str], Cell] = {}
    for group, entries in by_group.items():
        firsts: dict[str, dict] = {}
        for e in entries:
            firsts.setdefault(e.get("fullname") or e["name"], e)
        labels = {n: column_label(e, list(firsts.values())) for n, e in firsts.items()}
        counts: dict[str, int] = {}
        for label in labels.values():
            counts[label] = counts.get(label, 0) + 1
        for n, label in labels.items():
            if counts[label] > 1:  # two entries would share a column: say which is which
                labels[n] = f"{label} [{firsts[n].get('param') or n}]"
        by_name: dict[str, Cell] = {}
        for e in entries:
            n = e.get("fullname") or e["name"]
            cell = by_name.get(n)
            if cell is None:
                cell = by_name[n] = out[(group, labels[n])] = Cell(group, labels[n], n)
            extra = e.get("extra_info") or {}
            repeat = extra.get("repeat")
            if not isinstance(repeat, int) or repeat in cell.runs:
                repeat = len(cell.runs) + 1
            cell.runs[repeat] = e["stats"]
            cell.loads[repeat] = extra.get("load") or {}
    return out


def order_columns(columns) -> list[str]:
    """The framework columns first (:func:`framework_columns`), then the others in the
    order given."""
    fixed = framework_columns()
    cols = list(dict.fromkeys(columns))
    return sorted(cols, key=lambda c: (fixed.index(c), 0) if c in fixed
                  else (len(fixed), cols.index(c)))


def tables(found: dict[tuple[str, str], Cell]) -> list[tuple[list[str], list[str]]]:
    """``[(columns, groups)]``: the rows split into tables that share columns.  Rows
    with framework columns only make the first table; rows with other columns (scikit-
    learn, Hugging Face, ...) one table per set of those."""
    fixed = set(framework_columns())
    row_cols: dict[str, list[str]] = {}
    for group, column in found:
        row_cols.setdefault(group, []).append(column)
    parts: dict[tuple, tuple[list[str], list[str]]] = {}
    for group, cols in row_cols.items():
        key = tuple(sorted(c for c in cols if c not in fixed))
        columns, groups = parts.setdefault(key, ([], []))
        columns.extend(c for c in cols if c not in columns)
        groups.append(group)
    return [(order_columns(cols), groups)
            for _, (cols, groups) in sorted(parts.items(), key=lambda kv: (kv[0] != (), 0))]


# ---------------------------------------------------------------- formatting


def ms(seconds: float) -> str:
    """Seconds as milliseconds: 1 decimal from 10 ms, else 3 significant digits."""
    v = seconds * 1e3
    if not math.isfinite(v):
        return "–"
    return f"{v:.1f}" if v >= 10 else f"{v:#.3g}"


def _ratios(row: dict[str, Cell], jax_col: str) -> tuple[float, list[float]] | None:
    """JAX's median over its fastest peer's, and the per-repeat ratios."""
    peers = [c for col, c in row.items() if role(col) == "peer"]
    if jax_col not in row or not peers:
        return None
    j = row[jax_col]
    overall = j.median / min(p.median for p in peers)
    per = []
    for rep, stats in j.runs.items():
        others = [p.runs[rep]["median"] for p in peers if rep in p.runs]
        if others:
            per.append(stats["median"] / min(others))
    return overall, per


def _ratio_text(r: tuple[float, list[float]] | None) -> str:
    if r is None:
        return ""
    overall, per = r
    text = f"{overall:.2f}x"
    if len(per) > 1:
        text += f" ({min(per):.2f}–{max(per):.2f})"
    return text


def grouped_markdown(found: dict[tuple[str, str], Cell]) -> str:
    """The grouped tables: one row per benchmark group, one column per framework
    (median ms ± IQR, the fastest peer of JAX in bold, † under load), and one ratio
    column per JAX column (its median over the fastest peer's; over several repeats the
    min–max of the per-repeat ratios), with their footnotes."""
    out = []
    repeats = max(len(c.runs) for c in found.values())
    for columns, groups in tables(found):
        jax_cols = [c for c in columns if role(c) == "jax"]
        ratio_cols = [j for j in jax_cols
                      if any(_ratios(_row(found, g), j) for g in groups)]
        rows = []
        for g in groups:
            row = _row(found, g)
            peers = [c for c in row.values() if role(c.column) == "peer"]
            best = min(peers, key=lambda c: c.median) if peers and jax_cols else None
            cells_text = []
            for col in columns:
                cell = row.get(col)
                if cell is None:
                    cells_text.append("")
                    continue
                figure = ms(cell.median)
                if cell is best:
                    figure = f"**{figure}**"
                medians = [st["median"] for st in cell.runs.values()]
                spread = (f" [{ms(min(medians))}–{ms(max(medians))}]"
                          if len(medians) > 1 else "")
                cells_text.append(f"{figure} ±{ms(cell.iqr)}{spread}"
                                  + (LOADED_MARK if cell.loaded else ""))
            rows.append([g, *cells_text, *(_ratio_text(_ratios(row, j)) for j in ratio_cols)])
        headers = ["benchmark", *map(title, columns),
                   *(f"{title(j)} / fastest peer" for j in ratio_cols)]
        out.append(markdown_table(headers, rows))
    notes = ["Median ms ± the interquartile range of the rounds"
             + (f"; over {repeats} repeats, run interleaved: the median of the per-repeat "
                "medians and IQRs, [the min–max of the per-repeat medians], and each "
                "ratio's range is the min–max of its per-repeat ratios" if repeats > 1
                else "")
             + "."
             + (" **Bold**: the fastest peer of JAX (NumPy, the reference, is no peer); a "
                "ratio is JAX's median over the fastest peer's."
                if any(role(col) == "jax" for _, col in found) else "")]
    loaded = [c for c in found.values() if c.loaded]
    if loaded:
        notes.append(f"{LOADED_MARK} Taken under load: other processes kept more than "
                     f"{machine.LOADED_CORES} of a core busy on average while it ran "
                     f"(/proc/stat; {len(loaded)} of {len(found)} figures, see the "
                     "detail table).")
    return "\n\n".join(out + notes)


def _row(found, group) -> dict[str, Cell]:
    return {col: c for (g, col), c in found.items() if g == group}


def _load_text(cell: Cell) -> tuple[str, str]:
    """``("before→after", "other busy cores")`` over a cell's runs."""
    loads = [v for v in cell.loads.values() if v]
    if not loads:
        return "–", "–"
    before = [v.get("load_before", float("nan")) for v in loads]
    after = [v.get("load_after", float("nan")) for v in loads]
    other = max(v.get("other_busy_cores", float("nan")) for v in loads)
    span = lambda xs: (f"{min(xs):.1f}" if f"{min(xs):.1f}" == f"{max(xs):.1f}"  # noqa: E731
                       else f"{min(xs):.1f}-{max(xs):.1f}")
    return f"{span(before)} → {span(after)}", f"{other:.2f}"


def detail_markdown(found: dict[tuple[str, str], Cell]) -> str:
    """One row per benchmark: median, IQR, stddev, min, rounds, the per-repeat medians,
    the load average before and after, and the most other busy cores of its runs."""
    rows = []
    for columns, groups in tables(found):
        for g in groups:
            row = _row(found, g)
            for col in columns:
                c = row.get(col)
                if c is None:
                    continue
                load_avg, other = _load_text(c)
                rows.append([g, title(col), ms(c.median), ms(c.iqr), ms(c.stddev),
                             ms(c.minimum), c.rounds,
                             ", ".join(ms(s["median"]) for s in c.runs.values()),
                             load_avg, other, LOADED_MARK if c.loaded else ""])
    return markdown_table(["benchmark", "framework", "median ms", "IQR ms", "stddev ms",
                           "min ms", "rounds", "per-repeat medians ms",
                           "load average before → after", "other busy cores",
                           "under load"], rows)


def context_line(doc: dict) -> str:
    """Machine (CPU, vendor, SIMD level, cores), allocator, date and load of a file."""
    entries = doc["benchmarks"]
    machines = list(dict.fromkeys(
        machine.line(e["extra_info"]) for e in entries
        if isinstance(e.get("extra_info"), dict) and e["extra_info"].get("cpu")))
    if not machines:
        cpu = ((doc.get("machine_info") or {}).get("cpu") or {})
        machines = [machine.line({"cpu": cpu.get("brand_raw") or
                                  (doc.get("machine_info") or {}).get("processor"),
                                  "cores": cpu.get("count")})]
    allocators = list(dict.fromkeys(e["extra_info"]["allocator"] for e in entries
                                    if (e.get("extra_info") or {}).get("allocator")))
    runs = (doc.get("mlsandbox") or {}).get("runs") or []
    dates = sorted(r["datetime"] for r in runs if r.get("datetime")) or \
        [doc.get("datetime") or "unknown"]
    when = _date(dates[0]) + (f" to {_date(dates[-1])}"
                              if _date(dates[-1]) != _date(dates[0]) else "")
    loads = [(e.get("extra_info") or {}).get("load") or {} for e in entries]
    loads = [v for v in loads if v]
    infos = [e.get("extra_info") or {} for e in entries]
    devices = sorted({i["device"] for i in infos if i.get("device")})
    matmul = sorted({i["matmul"] for i in infos if i.get("matmul")})
    parts = [f"Machine: {'; '.join(machines)}"]
    if devices:
        gpus = sorted({i["gpu"] for i in infos if i.get("gpu")})
        parts.append(f"device: {', '.join(devices)}" + (f" ({', '.join(gpus)})" if gpus
                                                        else ""))
    if matmul and matmul != ["exact"]:
        parts.append(f"float32 matmul mode: {', '.join(matmul)}")
    if allocators:
        parts.append(f"allocator: {'; '.join(allocators)}")
    parts.append(f"date: {when}")
    if loads:
        avg = [v[k] for v in loads for k in ("load_before", "load_after") if k in v]
        other = max(v.get("other_busy_cores", 0.0) for v in loads)
        n = sum(machine.under_load(v) for v in loads)
        parts.append(f"load: load average {min(avg):.1f}-{max(avg):.1f}, other processes "
                     f"busy on up to {other:.2f} cores, {n} of {len(loads)} figures under load")
    else:
        parts.append("load: not recorded")
    return "; ".join(parts) + "."


def _date(iso: str) -> str:
    return iso[:16].replace("T", " ") + (" UTC" if iso.endswith(("+00:00", "Z")) else "")


# ---------------------------------------------------------------- comparison


@dataclass
class Change:
    a: Cell
    b: Cell

    @property
    def ratio(self) -> float:
        return self.b.median / self.a.median

    @property
    def verdict(self) -> str:
        """``"x% faster"`` / ``"x% slower"``, or ``"within spread"`` when the medians
        differ by no more than the larger IQR of the two."""
        if abs(self.b.median - self.a.median) <= max(self.a.iqr, self.b.iqr):
            return "within spread"
        pct = abs(1 - self.ratio) * 100
        return f"{pct:.0f}% faster" if self.ratio < 1 else f"{pct:.0f}% slower"


def compare(a: dict[tuple[str, str], Cell], b: dict[tuple[str, str], Cell]):
    """``(changes sorted by B/A, names only in A, names only in B)``, matched by the
    benchmarks' full names."""
    a_by = {c.fullname: c for c in a.values()}
    b_by = {c.fullname: c for c in b.values()}
    changes = sorted((Change(a_by[n], b_by[n]) for n in a_by if n in b_by),
                     key=lambda ch: ch.ratio)
    return (changes, [n for n in a_by if n not in b_by], [n for n in b_by if n not in a_by])


def compare_markdown(a, b, name_a: str, name_b: str) -> str:
    changes, only_a, only_b = compare(a, b)
    rows = [[ch.b.group, title(ch.b.column),
             ms(ch.a.median) + (LOADED_MARK if ch.a.loaded else ""),
             ms(ch.b.median) + (LOADED_MARK if ch.b.loaded else ""),
             f"{ch.ratio:.2f}x", ch.verdict] for ch in changes]
    out = [markdown_table(["benchmark", "framework", f"A: {name_a} ms", f"B: {name_b} ms",
                           "B / A", "change"], rows) if rows else
           "No benchmark is in both files."]
    faster = sum(ch.ratio < 1 and ch.verdict != "within spread" for ch in changes)
    slower = sum(ch.ratio > 1 and ch.verdict != "within spread" for ch in changes)
    out.append(f"{len(changes)} benchmarks in both, sorted by B / A (median over median): "
               f"{faster} faster, {slower} slower, {len(changes) - faster - slower} within "
               "the spread (the larger IQR of the two)."
               + (f" {LOADED_MARK} taken under load." if any(
                   ch.a.loaded or ch.b.loaded for ch in changes) else ""))
    for label, names in ((f"Only in A ({name_a})", only_a), (f"Only in B ({name_b})", only_b)):
        if names:
            out.append(f"{label}: " + ", ".join(f"`{n}`" for n in names) + ".")
    return "\n\n".join(out)


# ---------------------------------------------------------------- charts


def chart(found, columns: list[str], groups: list[str], heading: str):
    """A grouped bar chart (log scale): one cluster per group, one bar per column,
    IQR as error bars."""
    from mlsandbox.report import new_figure

    fig, ax = new_figure(figsize=(max(6.0, 1.1 * len(groups) + 2), 4.2))
    width = 0.8 / max(1, len(columns))
    for i, col in enumerate(columns):
        xs, ys, err = [], [], []
        for k, g in enumerate(groups):
            c = found.get((g, col))
            if c is not None:
                xs.append(k - 0.4 + width * (i + 0.5))
                ys.append(c.median * 1e3)
                err.append(min(c.iqr * 1e3 / 2, c.median * 1e3 * 0.99))
        if xs:
            ax.bar(xs, ys, width, yerr=err, capsize=2, label=title(col))
    ax.set_yscale("log")
    lows = [c.median * 1e3 for c in found.values() if c.column in columns and c.group in groups]
    ax.set_ylim(bottom=min(lows) / 5)  # bars start well below the smallest: ratios show
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("median ms (log scale)")
    ax.set_title(heading, fontsize=10)
    ax.legend(fontsize=7, ncol=min(len(columns), 4))
    return fig


def compare_chart(changes: list[Change], name_a: str, name_b: str):
    """Horizontal bars of B / A per benchmark, log scale, 1 marked."""
    from mlsandbox.report import new_figure

    fig, ax = new_figure(figsize=(7.0, max(2.5, 0.28 * len(changes) + 1)))
    labels = [f"{ch.b.group} · {title(ch.b.column)}" for ch in changes]
    ratios = [ch.ratio for ch in changes]
    colors = ["tab:green" if r < 1 else "tab:red" for r in ratios]
    ax.barh(range(len(changes)), [r - 1 for r in ratios], color=colors, left=1.0)  # from 1
    ax.set_xscale("log")
    reach = max(max(ratios), 1 / min(ratios)) * 1.15
    ax.set_xlim(1 / reach, reach)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(changes)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"B / A median time (log scale; < 1: B faster). A: {name_a}, B: {name_b}")
    return fig


# ---------------------------------------------------------------- the report


def render(docs: Sequence[tuple[str, dict]], report=None) -> str:
    """The markdown of one file's tables (two files: the comparison first, then each
    file's tables), returned; with ``report`` (an open :class:`mlsandbox.report.Report`)
    also written there, with the charts, the detail tables and metrics.json."""
    printed: list[str] = []

    def emit(text: str) -> None:
        printed.append(text)
        if report is not None:
            report.text(text)

    found = [(name, doc, cells(doc)) for name, doc in docs]
    metrics: dict = {"files": [name for name, _ in docs], "cells": {}}
    if len(found) == 2:
        (na, _, a), (nb, _, b) = found
        changes, only_a, only_b = compare(a, b)
        emit("## Comparison")
        emit(compare_markdown(a, b, na, nb))
        if report is not None and changes:
            report.figure("compare.png", compare_chart(changes, na, nb),
                          caption="B / A per benchmark")
        metrics["comparison"] = [{"fullname": ch.a.fullname, "group": ch.b.group,
                                  "column": ch.b.column, "a_median_s": ch.a.median,
                                  "b_median_s": ch.b.median, "ratio": ch.ratio,
                                  "verdict": ch.verdict} for ch in changes]
        metrics["only_in_a"], metrics["only_in_b"] = only_a, only_b
    for k, (name, doc, cs) in enumerate(found):
        emit(f"## {'AB'[k] + ': ' if len(found) == 2 else ''}{name}")
        emit(context_line(doc))
        emit(grouped_markdown(cs))
        if report is not None:
            tag = "ab"[k] if len(found) == 2 else "bench"
            for i, (columns, groups) in enumerate(tables(cs), 1):
                report.figure(f"{tag}-{i}.png", chart(cs, columns, groups, name),
                              caption=f"{name}: median ms, log scale")
            report.heading(f"Every figure{' of ' + name if len(found) == 2 else ''}",
                           level=3)
            report.text(detail_markdown(cs))
        metrics["cells"][name] = [
            {"group": c.group, "column": c.column, "fullname": c.fullname,
             "median_s": c.median, "iqr_s": c.iqr, "rounds": c.rounds,
             "repeat_medians_s": [s["median"] for s in c.runs.values()],
             "under_load": c.loaded} for c in cs.values()]
    if report is not None:
        report.metrics(metrics)
    return "\n\n".join(printed)


def bench_report(files: Sequence, out, *, echo=print) -> Path:
    """``mlsandbox bench-report A.json [B.json] --out DIR``: every file is read and
    checked and ``out`` is checked before anything is written; prints the tables and
    writes report.md, the charts and metrics.json to ``out`` (all or nothing)."""
    from mlsandbox.report import Report, check_out_dir

    if not 1 <= len(files) <= 2:
        raise ValueError(f"{len(files)} files given; expected one benchmark file, or two "
                         "to compare (A then B)")
    out = check_out_dir(out)
    docs = [(Path(f).name, load(f)) for f in files]
    if len(docs) == 2 and docs[0][0] == docs[1][0]:
        docs = [(str(f), d) for f, (_, d) in zip(files, docs)]
    heading = (f"Benchmarks: {docs[0][0]}" if len(docs) == 1
               else f"Benchmarks: {docs[0][0]} (A) against {docs[1][0]} (B)")
    with Report(out, heading) as r:
        text = render(docs, r)
    echo(text)
    return out
