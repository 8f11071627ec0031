"""One process per framework for the benchmark suites.

    mlsandbox bench                                   # the whole suite, once
    mlsandbox bench --repeat 3 -k "mlp" --out reports/bench-mlp
    mlsandbox bench -k mlp_forward --benchmark-min-rounds=1 --benchmark-max-time=0.01

Why a process each: a figure should not depend on which other frameworks ran before it
in the same interpreter (their thread pools, allocator state, JIT caches).  Each
benchmark runs in the process of its *framework* (:func:`process_key`): its backend
marker (``-m torch``, from :mod:`mlsandbox.testing.plugin`), and for JAX the kernel set
(``impl="fused"``/``"fast"``: ``jax-fast``, ``impl="onednn"``: ``jax-onednn``; see
:data:`mlsandbox.benchreport.JAX_KERNEL_SETS`).  Unmarked benchmarks (scikit-learn, the
NumPy-only text tools) run in the reference's process; one marked with several backends
gets a process of that combination.

Two users of the same machinery (:func:`run_process`):

* ``pytest bench --benchmark-only`` as typed: the test plugin sees benchmarks of more
  than one framework, runs each framework's in a child pytest and merges their results
  and reports into its own table and ``--benchmark-json`` (``--bench-one-process`` to
  run them all in one; with ``--benchmark-disable`` nothing changes: in-process, fast);
* ``mlsandbox bench``: the suite R times, the frameworks interleaved (numpy, jax, ...,
  numpy, jax, ...) so that the machine's noise hits every framework alike; each run's
  JSON and output are kept under ``runs/``, the merged ``bench.json`` holds them all,
  and ``report.md`` the grouped table (:mod:`mlsandbox.benchreport`).

A child is ``python -m pytest`` with the same arguments and these variables:
:data:`ENV_PROCESS` (the one framework it runs), :data:`ENV_JSON` (where its
pytest-benchmark JSON goes) and :data:`ENV_REPORTS` (a pipe for its test reports and the
warnings its tests raised, one JSON line per event, read back as they come).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Mapping, Sequence

from mlsandbox.benchreport import JAX_KERNEL_SETS, framework_columns

#: the framework a child pytest runs (its other benchmarks are deselected); set, it also
#: turns the plugin's isolation off in that child
ENV_PROCESS = "MLSANDBOX_BENCH_PROCESS"
#: the path a child writes its pytest-benchmark JSON to
ENV_JSON = "MLSANDBOX_BENCH_JSON"
#: the file descriptor a child writes its test reports and warnings to (JSON lines)
ENV_REPORTS = "MLSANDBOX_BENCH_REPORTS"
#: the path a collecting child writes ``{nodeid: framework}`` of its benchmarks to
ENV_LIST = "MLSANDBOX_BENCH_LIST"
#: the pytest plugin that selects a child's framework and records every figure's load
PLUGIN = "mlsandbox.testing.plugin"
#: lines of a failed child's output shown with its error
TAIL_LINES = 40


class RunFailed(RuntimeError):
    """A child benchmark run exited with an error (the message names it and its log)."""


def process_key(backends: Sequence[str], params: Mapping) -> str:
    """The process (and framework column) of a benchmark with backend markers
    ``backends`` and parameters ``params``: the backend, for JAX its kernel set
    (``params["impl"]``); several backends joined with ``+``; none, the reference."""
    import models

    marked = [b for b in models.BACKENDS if b in backends]
    if not marked:
        return models.REFERENCE
    if len(marked) > 1:
        return "+".join(marked)
    if marked[0] == "jax" and params.get("impl") in JAX_KERNEL_SETS:
        return JAX_KERNEL_SETS[params["impl"]]
    return marked[0]


def order(keys) -> list[str]:
    """Processes in run order: the framework columns' order, then combinations."""
    fixed = framework_columns()
    return sorted(set(keys), key=lambda k: (fixed.index(k) if k in fixed else len(fixed), k))


def child_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def run_process(key: str, args: Sequence[str], *, cwd, json_path, log_path,
                on_event: Callable[[dict], None] | None = None) -> int:
    """Run ``python -m pytest ARGS`` in ``cwd`` with only framework ``key``'s benchmarks,
    its pytest-benchmark JSON to ``json_path`` and its output to ``log_path``; call
    ``on_event`` with every report event (``{"event": "logstart" | "report" |
    "logfinish" | "warning", ...}``) as it comes.  Returns the exit status."""
    read, write = os.pipe()
    env = dict(os.environ, **{ENV_PROCESS: key, ENV_JSON: str(json_path),
                              ENV_REPORTS: str(write)})
    env.pop(ENV_LIST, None)
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(child_command(args), cwd=cwd, env=env,
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, pass_fds=(write,))
    finally:
        os.close(write)
    try:
        with os.fdopen(read, "r", encoding="utf-8") as stream:
            for line in stream:
                if on_event is not None and line.strip():
                    on_event(json.loads(line))
        return proc.wait()
    except BaseException:
        if proc.poll() is None:
            proc.terminate()
        proc.wait()
        raise


def tail(log_path, lines: int = TAIL_LINES) -> str:
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def collect(args: Sequence[str], cwd) -> dict[str, str]:
    """``{nodeid: framework}`` of the benchmarks ``pytest ARGS`` selects (one collecting
    child; ValueError with its output when collection fails)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mlsandbox-bench-") as tmp:
        listing = Path(tmp) / "benchmarks.json"
        env = dict(os.environ, **{ENV_LIST: str(listing)})
        for k in (ENV_PROCESS, ENV_JSON, ENV_REPORTS):
            env.pop(k, None)
        res = subprocess.run(child_command([*args, "--collect-only", "-q"]), cwd=cwd, env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if res.returncode not in (0, 5) or not listing.exists():
            out = "\n".join((res.stdout + res.stderr).rstrip().splitlines()[-TAIL_LINES:])
            raise ValueError(f"collecting the benchmarks failed (pytest {' '.join(args)} "
                             f"--collect-only exited with code {res.returncode}):\n{out}")
        return json.loads(listing.read_text())


def suite_root() -> Path:
    """The source checkout holding ``bench/`` beside this package (FileNotFoundError
    when this is an installed copy without it)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "bench" / "conftest.py").is_file():
        raise FileNotFoundError(f"the benchmark suite is not found: {root / 'bench'} does not "
                                "exist; expected a source checkout of mlsandbox (its bench/ "
                                "folder beside mlsandbox/)")
    return root


def _split_targets(pytest_args: Sequence[str], root: Path) -> tuple[list[str], list[str]]:
    """``(paths, options)``: the arguments naming existing files or folders (made
    absolute, test ids after ``::`` kept; relative to the working directory, else to
    ``root``), and the rest; no path given means ``root/bench``."""
    paths, rest = [], []
    for a in pytest_args:
        path, sep, ids = a.partition("::")
        found = next((c for c in (Path(path), root / path) if c.exists()), None) \
            if path and not a.startswith("-") else None
        if found is None:
            rest.append(a)
        else:
            paths.append(str(found.absolute()) + sep + ids)
    return paths or [str(root / "bench")], rest


def _relative(target: str, root: Path) -> str:
    path, sep, ids = target.partition("::")
    return os.path.relpath(path, root) + sep + ids


def merge(runs: Sequence[dict], meta: dict) -> dict:
    """One pytest-benchmark document holding the benchmarks of every run (each entry
    marked with its ``extra_info["repeat"]`` and ``["framework"]``), the first run's
    machine and commit info, and ``meta`` plus the list of runs under ``"mlsandbox"``.
    A run is ``{"repeat", "framework", "doc" (its JSON, None when nothing was timed),
    ...}``."""
    docs = [r["doc"] for r in runs if r.get("doc")]
    first = docs[0] if docs else {}
    benchmarks = [dict(e, extra_info={**(e.get("extra_info") or {}), "repeat": r["repeat"],
                                      "framework": r["framework"]})
                  for r in runs for e in (r.get("doc") or {}).get("benchmarks", [])]
    listed = [{**{k: v for k, v in r.items() if k != "doc"},
               "datetime": (r.get("doc") or {}).get("datetime")} for r in runs]
    return {"machine_info": first.get("machine_info", {}),
            "commit_info": first.get("commit_info", {}),
            "benchmarks": benchmarks,
            "datetime": first.get("datetime", ""),
            "version": first.get("version", ""),
            "mlsandbox": {**meta, "runs": listed}}


def _n(count: int) -> str:
    return f"{count} benchmark{'s' if count != 1 else ''}"


def bench(*, repeat: int = 1, out="reports/bench", k: str | None = None,
          pytest_args: Sequence[str] = (), echo: Callable[[str], None] = print) -> Path:
    """``mlsandbox bench``: run the suite one process per framework, ``repeat`` times
    interleaved, and write ``out/`` (report.md, bench.json, runs/, charts, metrics.json;
    all or nothing).  Prints progress as it goes and the table at the end."""
    from mlsandbox import benchreport
    from mlsandbox.report import Report, check_out_dir

    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"--repeat {repeat!r}: expected an integer >= 1")
    out = check_out_dir(out)
    root = suite_root()
    paths, rest = _split_targets(pytest_args, root)
    # the plugin that records load and frameworks, whatever the rootdir's ini says
    args = [*paths, "-p", PLUGIN, "--benchmark-only", *rest, *(["-k", k] if k else [])]
    shown = " ".join([*(_relative(p, root) for p in paths), *rest,
                      *([f"-k {k!r}"] if k else [])])
    echo(f"mlsandbox bench: collecting the benchmarks of {shown} ...")
    keys = collect(args, root)
    if not keys:
        raise ValueError(f"no benchmarks selected by {shown}; expected at least one "
                         f"(pytest {' '.join(args)} --collect-only lists them)")
    count = Counter(keys.values())
    processes = order(count)
    echo(f"{_n(len(keys))}, one process per framework: "
         + ", ".join(f"{p} ({count[p]})" for p in processes)
         + f"; {repeat} repeat{'s' if repeat > 1 else ''}, interleaved")
    runs: list[dict] = []
    with Report(out, "Benchmarks, one process per framework") as report:
        runs_dir = report.path / "runs"
        runs_dir.mkdir()
        for i in range(1, repeat + 1):
            for key in processes:
                stem = f"r{i}-{key}"
                echo(f"[{i}/{repeat}] {key}: {_n(count[key])} ...")
                started = time.monotonic()
                outcomes: Counter = Counter()

                def show(event, key=key):
                    if event.get("event") != "report":
                        return
                    data = event["data"]
                    if data["when"] == "call" or data["outcome"] != "passed":
                        outcomes[data["outcome"]] += 1
                        name = data["nodeid"].rsplit("/", 1)[-1]
                        echo(f"    {name} {data['outcome']} ({data.get('duration', 0):.1f} s)")

                rc = run_process(key, args, cwd=root, json_path=runs_dir / f"{stem}.json",
                                 log_path=runs_dir / f"{stem}.log", on_event=show)
                if rc != 0:
                    log = tail(runs_dir / f"{stem}.log")
                    echo(log)
                    raise RunFailed(f"the {key} run (repeat {i}) exited with code {rc} "
                                    f"({dict(outcomes) or 'nothing reported'}); its output "
                                    "is above, nothing was written")
                json_path = runs_dir / f"{stem}.json"
                doc = benchreport.load(json_path) if json_path.exists() else None
                runs.append({"repeat": i, "framework": key, "doc": doc,
                             "file": f"runs/{stem}.json" if doc else None,
                             "seconds": round(time.monotonic() - started, 1),
                             "outcomes": dict(outcomes)})
                echo(f"[{i}/{repeat}] {key}: done in {runs[-1]['seconds']:.0f} s: "
                     + ", ".join(f"{n} {o}" for o, n in outcomes.items()))
        if not any(r["doc"] for r in runs):
            raise ValueError(f"no benchmark was timed (every one selected by {shown} "
                             "skipped); expected at least one")
        merged = merge(runs, {"repeats": repeat, "processes": processes,
                              "command": ["pytest", *args]})
        (report.path / "bench.json").write_text(json.dumps(merged, indent=1) + "\n")
        report.text(f"`mlsandbox bench --repeat {repeat}` of `{shown}`: "
                    f"{_n(len(keys))}, one process per framework "
                    f"({', '.join(processes)}), {repeat} repeat(s) interleaved. Every "
                    "run's pytest-benchmark JSON and output are in `runs/`; all of them "
                    "in `bench.json`.")
        text = benchreport.render([("results", benchreport.validate(merged, "bench.json"))],
                                  report)
    echo(text)
    echo(f"written to {out}/report.md and {out}/bench.json")
    return out
