"""pytest plugin of the three suites (``-p mlsandbox.testing.plugin`` in pyproject.toml).

* One marker per backend, read from :data:`models.BACKENDS`, so ``pytest -m torch``
  selects a framework and a newly registered framework gets its marker without another
  line.
* Every timed benchmark records the load it ran under (``extra_info["load"]``:
  :func:`mlsandbox.machine.measure_load` over the test's call) and its framework
  (``extra_info["framework"]``, :func:`mlsandbox.benchrun.process_key`).
* One process per framework: when benchmarks are timed (not ``--benchmark-disable`` or
  ``--benchmark-skip``) and benchmarks of more than one framework are collected, the
  other tests run here as usual and each framework's benchmarks in a child pytest of its
  own; their reports and timings come back into this session, so the terminal, the
  table, ``--benchmark-json`` and the exit status read as one run
  (:mod:`mlsandbox.benchrun`); so do the warnings their tests raised, into this
  session's warnings summary under the child's test ids.  ``--bench-one-process`` keeps
  everything in this one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.getgroup("benchmark").addoption(
        "--bench-one-process", action="store_true", default=False,
        help="time the benchmarks of every framework in this one process (by default, "
             "when benchmarks of more than one framework are timed, each framework's run "
             "in a pytest process of its own and the results are merged here)")


def pytest_configure(config):
    import models
    from mlsandbox import benchrun

    for backend in models.BACKENDS:
        config.addinivalue_line("markers", f"{backend}: uses the {backend} backend "
                                           f"(one marker per entry of models.BACKENDS)")
    if os.environ.get(benchrun.ENV_JSON):
        # a child of one framework: its JSON goes where the parent reads it, and nothing
        # else is saved or compared here (the parent does that with the merged results)
        opt = config.option
        opt.benchmark_json = Path(os.environ[benchrun.ENV_JSON])
        opt.benchmark_save = opt.benchmark_autosave = opt.benchmark_compare_fail = None
        opt.benchmark_compare, opt.benchmark_histogram = [], []
        opt.benchmark_csv, opt.benchmark_cprofile_dump = [], []
    if os.environ.get(benchrun.ENV_REPORTS):
        stream = os.fdopen(int(os.environ[benchrun.ENV_REPORTS]), "w", encoding="utf-8")
        config.pluginmanager.register(_ReportStream(config, stream), "mlsandbox-bench-child")


def is_benchmark(item) -> bool:
    return "benchmark" in getattr(item, "fixturenames", ())


def framework(item) -> str:
    """The process (framework) of a benchmark item: its backend markers and, for JAX,
    its ``impl`` parameter (:func:`mlsandbox.benchrun.process_key`)."""
    from mlsandbox import benchrun

    callspec = getattr(item, "callspec", None)
    return benchrun.process_key([m.name for m in item.iter_markers()],
                                callspec.params if callspec is not None else {})


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    from mlsandbox import benchrun

    key = os.environ.get(benchrun.ENV_PROCESS)
    if not key:
        return
    keep = [it for it in items if is_benchmark(it) and framework(it) == key]
    dropped = [it for it in items if it not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


def pytest_collection_finish(session):
    from mlsandbox import benchrun

    listing = os.environ.get(benchrun.ENV_LIST)
    if listing:
        Path(listing).write_text(json.dumps(
            {it.nodeid: framework(it) for it in session.items if is_benchmark(it)}))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    fixture = getattr(item, "funcargs", {}).get("benchmark")
    if fixture is None or not getattr(fixture, "enabled", False):
        return (yield)
    from mlsandbox import machine

    fixture.extra_info["framework"] = framework(item)
    with machine.measure_load() as load:
        try:
            return (yield)
        finally:
            fixture.extra_info["load"] = load


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    """Under pytest-benchmark's table: which figures were taken under load."""
    from mlsandbox import benchrun, machine

    bs = config.pluginmanager.get_plugin("pytest-benchmark")
    if bs is None or os.environ.get(benchrun.ENV_PROCESS):
        return
    loaded = [(b.name, b.extra_info["load"]) for b in bs.benchmarks
              if machine.under_load(b.extra_info.get("load"))]
    if loaded:
        terminalreporter.write_line(
            f"mlsandbox: {len(loaded)} of {len(bs.benchmarks)} benchmarks ran under load "
            f"(other processes kept more than {machine.LOADED_CORES} of a core busy): "
            + ", ".join(f"{name} ({load['other_busy_cores']:.2f} cores, load average "
                        f"{load['load_before']:.1f})" for name, load in loaded),
            yellow=True)


class _ReportStream:
    """In a child: every test event, as one JSON line, to the parent's pipe."""

    def __init__(self, config, stream):
        self.config, self.stream = config, stream

    def _send(self, event: dict) -> None:
        self.stream.write(json.dumps(event) + "\n")
        self.stream.flush()

    def pytest_runtest_logstart(self, nodeid, location):
        self._send({"event": "logstart", "nodeid": nodeid})

    def pytest_runtest_logreport(self, report):
        data = self.config.hook.pytest_report_to_serializable(config=self.config,
                                                              report=report)
        self._send({"event": "report", "nodeid": report.nodeid, "data": data})

    def pytest_runtest_logfinish(self, nodeid, location):
        self._send({"event": "logfinish", "nodeid": nodeid})

    def pytest_warning_recorded(self, warning_message, when, nodeid, location):
        self._send({"event": "warning", "nodeid": nodeid, "when": when,
                    "message": str(warning_message.message),
                    "category": warning_message.category.__name__,
                    "filename": warning_message.filename,
                    "lineno": warning_message.lineno, "location": location})

    def pytest_unconfigure(self):
        self.stream.close()


# ---------------------------------------------------------------- the parent's loop


def _isolation_plan(session):
    """``(items run here, {framework: its benchmark items})``, or None to run as
    usual (a child already, ``--bench-one-process``, benchmarks not timed, one
    framework only, collect-only or collection errors)."""
    from mlsandbox import benchrun

    config = session.config
    bs = config.pluginmanager.get_plugin("pytest-benchmark")
    if (os.environ.get(benchrun.ENV_PROCESS) or config.getoption("bench_one_process")
            or config.option.collectonly or session.testsfailed or bs is None
            or bs.disabled or bs.skip):
        return None
    groups: dict[str, list] = {}
    here = []
    for item in session.items:
        if is_benchmark(item):
            groups.setdefault(framework(item), []).append(item)
        else:
            here.append(item)
    if len(groups) < 2:
        return None
    return here, {k: groups[k] for k in benchrun.order(groups)}


def _stop(session) -> None:
    if session.shouldfail:
        raise session.Failed(session.shouldfail)
    if session.shouldstop:
        raise session.Interrupted(session.shouldstop)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    plan = _isolation_plan(session)
    if plan is None:
        return None

    here, groups = plan
    config = session.config
    tr = config.pluginmanager.get_plugin("terminalreporter")
    say = tr.write_line if tr is not None else (lambda line: None)
    for i, item in enumerate(here):
        item.config.hook.pytest_runtest_protocol(
            item=item, nextitem=here[i + 1] if i + 1 < len(here) else None)
        _stop(session)
    say("mlsandbox: benchmarks of " + ", ".join(f"{k} ({len(v)})" for k, v in groups.items())
        + ": each framework in a pytest process of its own (--bench-one-process: all in "
          "this one)")
    args = list(config.invocation_params.args)
    cwd = config.invocation_params.dir
    with tempfile.TemporaryDirectory(prefix="mlsandbox-bench-") as tmp:
        for key, items in groups.items():
            say(f"mlsandbox: {key}: {len(items)} benchmark(s) in their own process ...")
            _run_child(session, key, items, args, cwd, Path(tmp), say)
            _stop(session)
    return True


def _run_child(session, key, items, args, cwd, tmp: Path, say) -> None:
    from mlsandbox import benchrun

    config = session.config
    by_id = {it.nodeid: it for it in items}
    finished: set[str] = set()

    def replay(event):
        item = by_id.get(event["nodeid"])
        hook = item.ihook if item is not None else config.hook
        location = item.location if item is not None else (event["nodeid"], None, "")
        if event["event"] == "logstart":
            hook.pytest_runtest_logstart(nodeid=event["nodeid"], location=location)
        elif event["event"] == "report":
            report = config.hook.pytest_report_from_serializable(config=config,
                                                                 data=event["data"])
            hook.pytest_runtest_logreport(report=report)
        elif event["event"] == "logfinish":
            hook.pytest_runtest_logfinish(nodeid=event["nodeid"], location=location)
            finished.add(event["nodeid"])
        elif event["event"] == "warning":
            _record_warning(config, event)

    json_path, log_path = tmp / f"{key}.json", tmp / f"{key}.log"
    rc = benchrun.run_process(key, args, cwd=cwd, json_path=json_path, log_path=log_path,
                              on_event=replay)
    missing = [it for it in items if it.nodeid not in finished]
    if missing or rc not in (0, 1):
        why = (f"the {key} benchmark process (python -m pytest {' '.join(args)}, "
               f"{benchrun.ENV_PROCESS}={key}) exited with code {rc}"
               + (" before reporting this test" if missing else "")
               + f"; the end of its output:\n{benchrun.tail(log_path)}")
        for it in missing:
            it.ihook.pytest_runtest_logstart(nodeid=it.nodeid, location=it.location)
            it.ihook.pytest_runtest_logreport(report=pytest.TestReport(
                it.nodeid, it.location, {}, "failed", why, "call"))
            it.ihook.pytest_runtest_logfinish(nodeid=it.nodeid, location=it.location)
        if not missing:
            say(why)
    if json_path.exists():
        _add_timings(config, json_path)


def _record_warning(config, event: dict) -> None:
    """A warning a child's test raised, recorded in this session as pytest records its
    own (the warnings summary: the child's test id, category, message and location)."""
    import builtins
    import warnings

    if event["when"] != "runtest":
        return      # collection and configuration: this session collected the same files
    name = event["category"]
    category = getattr(builtins, name, None) or getattr(pytest, name, None)
    if not (isinstance(category, type) and issubclass(category, Warning)):
        category = type(name, (Warning,), {})     # formats as the child's did
    message = warnings.WarningMessage(category(event["message"]), category,
                                      event["filename"], event["lineno"])
    location = tuple(event["location"]) if event.get("location") else None
    config.hook.pytest_warning_recorded.call_historic(kwargs={
        "warning_message": message, "when": event["when"], "nodeid": event["nodeid"],
        "location": location})


def _add_timings(config, json_path: Path) -> None:
    """Put a child's timings into this session's pytest-benchmark results (rebuilt from
    the raw rounds in its JSON), so that the table and --benchmark-json hold them."""
    from types import SimpleNamespace

    from pytest_benchmark.stats import Metadata

    bs = config.pluginmanager.get_plugin("pytest-benchmark")
    for entry in json.loads(json_path.read_text())["benchmarks"]:
        stats = entry["stats"]
        source = SimpleNamespace(name=entry["name"], fullname=entry["fullname"],
                                 group=entry.get("group"), param=entry.get("param"),
                                 params=entry.get("params"),
                                 extra_info=entry.get("extra_info") or {},
                                 cprofile_stats=None, has_error=False)
        meta = Metadata(source, stats.get("iterations", 1), entry.get("options") or {})
        for duration in stats["data"]:
            meta.stats.update(duration)
        bs.benchmarks.append(meta)
