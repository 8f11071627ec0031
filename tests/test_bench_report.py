"""``mlsandbox bench`` and ``mlsandbox bench-report``: the grouped tables, the comparison,
the errors, and the suite run one process per framework (tiny selections, no timing
assertions: speed lives in bench/)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlsandbox import benchreport, benchrun, cli, machine

REPO = Path(__file__).resolve().parents[1]
QUIET = {"load_before": 0.3, "load_after": 0.4, "seconds": 2.0, "cores": 2,
         "busy_cores": 1.0, "own_cores": 1.0, "other_busy_cores": 0.0, "under_load": False}
BUSY = dict(QUIET, load_before=2.9, busy_cores=2.0, other_busy_cores=1.0, under_load=True)


def entry(group, test, param, params, median, *, iqr=None, repeat=None, load=QUIET,
          **extra):
    """One pytest-benchmark entry as ``pytest --benchmark-json`` writes it (seconds)."""
    iqr = median * 0.05 if iqr is None else iqr
    info = {"cpu": "Intel(R) Xeon(R) Processor", "vendor": "GenuineIntel",
            "instruction_set": "AVX-512", "cores": 2, "allocator": "glibc malloc, default",
            "load": load, **extra}
    if repeat is not None:
        info["repeat"] = repeat
    return {"group": group, "name": f"{test}[{param}]",
            "fullname": f"bench/bench_x.py::{test}[{param}]", "params": params,
            "param": param, "extra_info": info,
            "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": 5,
                        "max_time": 1.0, "min_time": 5e-06, "warmup": False},
            "stats": {"min": median * 0.9, "max": median * 1.3, "mean": median * 1.02,
                      "stddev": median * 0.04, "rounds": 12, "median": median, "iqr": iqr,
                      "q1": median - iqr / 2, "q3": median + iqr / 2, "iqr_outliers": 0,
                      "stddev_outliers": 1, "outliers": "1;0", "ld15iqr": median * 0.9,
                      "hd15iqr": median * 1.2, "ops": 1 / median, "total": median * 12,
                      "iterations": 1}}


def document(entries):
    return {"machine_info": {"node": "ci", "processor": "x86_64", "machine": "x86_64",
                             "python_version": "3.11.7", "system": "Linux",
                             "cpu": {"brand_raw": "Intel(R) Xeon(R) Processor", "count": 2}},
            "commit_info": {"id": "373491b", "dirty": True},
            "benchmarks": entries, "datetime": "2026-12-02T17:00:00.000000+00:00",
            "version": "5.3.1"}


def mlp(step_torch=0.0276, step_fused=0.0191, load=QUIET, repeat=None):
    """The MLP rows as bench_mlp.py and bench_accel.py record them."""
    step = "test_mlp_train_step"
    return [
        entry("mlp-forward", "test_mlp_forward", "numpy", {"backend": "numpy"}, 0.0202,
              repeat=repeat),
        entry("mlp-forward", "test_mlp_forward", "jax", {"backend": "jax"}, 0.0093,
              repeat=repeat),
        entry("mlp-forward", "test_mlp_forward", "torch", {"backend": "torch"}, 0.0111,
              repeat=repeat),
        entry("mlp-forward", "test_mlp_forward", "keras", {"backend": "keras"}, 0.0117,
              repeat=repeat),
        entry("mlp-train-step", step, "numpy", {"backend": "numpy"}, 0.060, repeat=repeat),
        entry("mlp-train-step", step, "jax", {"backend": "jax"}, 0.0331, repeat=repeat),
        entry("mlp-train-step", f"{step}_fused", "fused", {"impl": "fused"}, step_fused,
              framework="jax-fast", impl="fused", repeat=repeat),
        entry("mlp-train-step", f"{step}_fused", "onednn", {"impl": "onednn"}, 0.0148,
              framework="jax-onednn", impl="onednn", repeat=repeat),
        entry("mlp-train-step", step, "torch", {"backend": "torch"}, step_torch, load=load,
              repeat=repeat),
        entry("mlp-train-step", step, "keras", {"backend": "keras"}, 0.0297, repeat=repeat),
    ]


def logreg():
    """A row with non-framework columns (scikit-learn), from bench_logreg.py."""
    t = "test_logreg_fit_breast_cancer"
    g = "logreg-fit-breast-cancer"
    return [entry(g, t, "sklearn-lbfgs", {"name": "sklearn-lbfgs"}, 0.0042),
            entry(g, t, "numpy", {"name": "numpy"}, 0.0051),
            entry(g, t, "jax", {"name": "jax"}, 0.0030)]


def table_rows(markdown: str, first: str) -> dict[str, list[str]]:
    """``{row name: cells}`` of the markdown table whose header starts with ``first``."""
    lines = markdown.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(f"| {first} |"))
    rows = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.setdefault(cells[0], cells[1:])
    return rows


# ---------------------------------------------------------------- the grouped table


def test_grouped_table_one_row_per_group_one_column_per_framework():
    found = benchreport.cells(document(mlp(load=BUSY) + logreg()))
    text = benchreport.grouped_markdown(found)
    rows = table_rows(text, "benchmark")
    header = rows["benchmark"]
    assert header == ["NumPy", "JAX", "JAX fast (XLA)", "JAX oneDNN", "PyTorch", "Keras (TF)",
                      "JAX / fastest peer", "JAX fast (XLA) / fastest peer",
                      "JAX oneDNN / fastest peer"]
    step = dict(zip(header, rows["mlp-train-step"]))
    assert step["NumPy"] == "60.0 ±3.00"
    assert step["PyTorch"] == "**27.6** ±1.38†"        # fastest peer, taken under load
    assert step["JAX fast (XLA)"] == "19.1 ±0.955"
    assert step["JAX / fastest peer"] == "1.20x"       # 33.1 / 27.6
    assert step["JAX oneDNN / fastest peer"] == "0.54x"
    forward = dict(zip(header, rows["mlp-forward"]))
    assert forward["JAX fast (XLA)"] == "" and forward["JAX / fastest peer"] == "0.84x"
    # the footnotes: what the cells are, and the load mark
    assert "interquartile range" in text
    assert f"† Taken under load: other processes kept more than {machine.LOADED_CORES}" in text
    assert "1 of 13 figures" in text
    # scikit-learn's row has its own table, where sklearn is the peer
    other = table_rows(text.split("mlp-train-step", 1)[1], "benchmark")
    assert other["benchmark"] == ["NumPy", "JAX", "sklearn-lbfgs", "JAX / fastest peer"]
    assert other["logreg-fit-breast-cancer"] == ["5.10 ±0.255", "3.00 ±0.150", "**4.20** ±0.210",
                                                 "0.71x"]


def test_no_dagger_without_load():
    text = benchreport.grouped_markdown(benchreport.cells(document(mlp())))
    assert "†" not in text and "Taken under load" not in text


def test_repeats_take_the_median_and_show_the_ratio_spread():
    runs = (mlp(step_torch=0.030, repeat=1) + mlp(step_torch=0.026, repeat=2)
            + mlp(step_torch=0.028, repeat=3))
    found = benchreport.cells(document(runs))
    cell = found[("mlp-train-step", "torch")]
    assert sorted(cell.runs) == [1, 2, 3] and cell.median == pytest.approx(0.028)
    rows = table_rows(benchreport.grouped_markdown(found), "benchmark")
    step = dict(zip(rows["benchmark"], rows["mlp-train-step"]))
    assert step["PyTorch"] == "**28.0** ±1.40 [26.0–30.0]"
    # 33.1/28 overall; per repeat 33.1/29.7 (keras is the fastest peer then), 33.1/26, 33.1/28
    assert step["JAX / fastest peer"] == "1.18x (1.11–1.27)"


def test_hf_and_plain_impl_columns():
    g = "bert-forward"
    entries = [entry(g, "test_bert_forward", "torch", {"backend": "torch"}, 0.19),
               entry(g, "test_hf_forward", "hf-eager", {"impl": "eager"}, 0.20,
                     column="hf-eager", framework="torch"),
               entry(g, "test_bert_forward", "jax", {"backend": "jax"}, 0.17)]
    found = benchreport.cells(document(entries))
    assert set(found) == {(g, "torch"), (g, "hf-eager"), (g, "jax")}
    assert benchreport.role("hf-eager") == "peer" and benchreport.role("ours-numpy") == \
        "reference" and benchreport.role("jax-vmap") == "jax"


def test_process_keys():
    assert benchrun.process_key(["torch", "parametrize"], {"backend": "torch"}) == "torch"
    assert benchrun.process_key(["jax"], {"impl": "fused"}) == "jax-fast"
    assert benchrun.process_key(["jax"], {"name": "cnn", "impl": "onednn"}) == "jax-onednn"
    assert benchrun.process_key(["torch"], {"impl": "eager"}) == "torch"   # Hugging Face
    assert benchrun.process_key([], {"name": "sklearn"}) == "numpy"
    assert benchrun.process_key(["keras", "torch"], {}) == "torch+keras"
    assert benchrun.order(["keras", "torch+keras", "jax-fast", "numpy", "jax"]) == [
        "numpy", "jax", "jax-fast", "keras", "torch+keras"]


# ---------------------------------------------------------------- comparison


def test_comparison_sorts_by_ratio_and_lists_rows_in_one_file_only():
    a = benchreport.cells(document(mlp()))
    b_entries = mlp(step_torch=0.0276 * 2, step_fused=0.0191 * 0.5)
    b_entries = [e for e in b_entries if e["param"] != "keras"] + logreg()[:1]
    b = benchreport.cells(document(b_entries))
    changes, only_a, only_b = benchreport.compare(a, b)
    assert [round(ch.ratio, 3) for ch in changes][:1] == [0.5]
    assert changes[0].b.column == "jax-fast" and changes[0].verdict == "50% faster"
    assert changes[-1].b.column == "torch" and changes[-1].verdict == "100% slower"
    assert {ch.verdict for ch in changes[1:-1]} == {"within spread"}
    assert only_a == ["bench/bench_x.py::test_mlp_forward[keras]",
                      "bench/bench_x.py::test_mlp_train_step[keras]"]
    assert only_b == ["bench/bench_x.py::test_logreg_fit_breast_cancer[sklearn-lbfgs]"]
    text = benchreport.compare_markdown(a, b, "before.json", "after.json")
    rows = table_rows(text, "benchmark")
    assert rows["benchmark"] == ["framework", "A: before.json ms", "B: after.json ms", "B / A",
                                 "change"]
    assert "1 faster, 1 slower, 6 within the spread" in text
    assert "Only in A (before.json): `bench/bench_x.py::test_mlp_forward[keras]`" in text


# ---------------------------------------------------------------- the command


def write(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def test_bench_report_writes_tables_charts_and_a_comparison(tmp_path, capsys):
    a = write(tmp_path / "before.json", document(mlp()))
    b = write(tmp_path / "after.json", document(mlp(step_torch=0.05) + logreg()))
    out = tmp_path / "report"
    assert cli.main(["bench-report", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "## Comparison" in printed and "## A: before.json" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "a-1.png", "b-1.png", "b-2.png", "compare.png", "metrics.json", "report.md"]
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "Machine: Intel(R) Xeon(R) Processor (GenuineIntel), AVX-512, 2 cores" in report
    assert "### Every figure of after.json" in report and "other busy cores" in report
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["comparison"][-1]["column"] == "torch"
    assert metrics["only_in_b"][0].endswith("[sklearn-lbfgs]")
    # one file: its tables only
    assert cli.main(["bench-report", str(a), "--out", str(tmp_path / "one")]) == 0
    assert "Comparison" not in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    (None, "no such file; expected a pytest-benchmark JSON file"),
    ("{not json", "not JSON (Expecting property name enclosed in double quotes at line 1 "
                  "column 2); expected a pytest-benchmark JSON file"),
    ({"runs": {"numpy": {}}}, "not a pytest-benchmark file (no 'benchmarks' list at the top "
                              "level); expected a pytest-benchmark JSON file"),
    (document([]), "holds no benchmarks (its 'benchmarks' list is empty)"),
    (document([{"name": "test_x[numpy]", "stats": {"mean": 1.0}}]),
     "benchmark 0 (test_x[numpy]) is not a pytest-benchmark entry (it needs a 'name' and "
     "'stats' with a positive 'median', 'iqr' and 'rounds'; missing or bad: median, iqr, "
     "rounds)"),
])
def test_bench_report_bad_input_is_one_error_line_and_writes_nothing(tmp_path, capsys,
                                                                     content, message):
    good = write(tmp_path / "good.json", document(mlp()))
    bad = tmp_path / "bad.json"
    if content is not None:
        write(bad, content)
    out = tmp_path / "out"
    assert cli.main(["bench-report", str(good), str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"mlsandbox bench-report: error: {bad}") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bench_report_refuses_three_files_and_a_file_as_out(tmp_path, capsys):
    a = write(tmp_path / "a.json", document(mlp()))
    assert cli.main(["bench-report", str(a), str(a), str(a), "--out", str(tmp_path / "o")]) == 1
    assert "3 files given; expected one benchmark file, or two" in capsys.readouterr().err
    notes = write(tmp_path / "notes.txt", "mine")
    assert cli.main(["bench-report", str(a), "--out", str(notes)]) == 1
    assert "exists and is not a folder" in capsys.readouterr().err
    assert notes.read_text() == "mine"


def test_bench_refuses_a_bad_repeat_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(benchrun, "collect", lambda *a: pytest.fail("collected"))
    assert cli.main(["bench", "--repeat", "0", "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err.strip() == (
        "mlsandbox bench: error: --repeat 0: expected an integer >= 1")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- one process per framework

#: two "frameworks" (their markers only) with trivial bodies: the isolation machinery
#: without a framework's import time
SYNTHETIC = '''
    import os
    import pytest

    @pytest.mark.numpy
    def test_sum_numpy(benchmark):
        benchmark.group = "sum"
        benchmark.extra_info["pid"] = os.getpid()
        benchmark(sum, range(100))

    @pytest.mark.torch
    def test_sum_torch(benchmark):
        benchmark.group = "sum"
        benchmark.extra_info["pid"] = os.getpid()
        benchmark(sum, range(100))

    @pytest.mark.torch
    def test_broken_torch(benchmark):
        benchmark.extra_info["pid"] = os.getpid()
        benchmark(sum, range(10))
        assert False, "a failing benchmark"

    def test_plain():
        assert os.environ.get("MLSANDBOX_BENCH_PROCESS") is None
'''


def pytest_run(tmp_path, *args, source=SYNTHETIC):
    (tmp_path / "test_synthetic.py").write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSANDBOX_BENCH_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "mlsandbox.testing.plugin",
                           "-p", "no:cacheprovider", "test_synthetic.py",
                           "--benchmark-min-rounds=1", "--benchmark-max-time=0.001", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_pytest_times_each_framework_in_its_own_process_and_merges(tmp_path):
    res = pytest_run(tmp_path, "--benchmark-json=out.json")
    assert res.returncode == 1, res.stdout[-3000:]        # the broken benchmark fails
    assert "benchmarks of numpy (1), torch (2): each framework in a pytest process" in res.stdout
    assert "a failing benchmark" in res.stdout
    assert "1 failed, 3 passed" in res.stdout
    doc = json.loads((tmp_path / "out.json").read_text())
    by = {b["name"]: b["extra_info"] for b in doc["benchmarks"]}
    assert set(by) == {"test_sum_numpy", "test_sum_torch", "test_broken_torch"}  # as in one
    assert by["test_sum_numpy"]["framework"] == "numpy"
    assert by["test_sum_numpy"]["pid"] != by["test_sum_torch"]["pid"]
    assert set(by["test_sum_torch"]["load"]) >= {"load_before", "load_after",
                                                 "other_busy_cores", "under_load"}
    assert "benchmark 'sum': 2 tests" in res.stdout           # one merged table
    assert by["test_sum_torch"]["pid"] == by["test_broken_torch"]["pid"]


def test_benchmark_disable_and_one_process_stay_in_process(tmp_path):
    for flag in ("--benchmark-disable", "--bench-one-process"):
        res = pytest_run(tmp_path, flag, "-k", "sum or plain")
        assert res.returncode == 0, res.stdout[-3000:]
        assert "own process" not in res.stdout and "3 passed" in res.stdout


#: a warning from a child's benchmark, and one raised at collection (every process's)
WARNS = '''
    import warnings
    import pytest

    warnings.warn("module says hi", UserWarning)

    @pytest.mark.numpy
    def test_sum_numpy(benchmark):
        benchmark(sum, range(10))

    @pytest.mark.torch
    def test_sum_torch(benchmark):
        warnings.warn("child says hello", UserWarning)
        benchmark(sum, range(10))
'''


def test_children_warnings_reach_the_warnings_summary(tmp_path):
    def summary(res):
        assert res.returncode == 0, res.stdout[-3000:]
        assert "2 passed, 2 warnings" in res.stdout
        return res.stdout.split("warnings summary", 1)[1].split("-- Docs:", 1)[0]

    res = pytest_run(tmp_path, source=WARNS)
    assert "each framework in a pytest process" in res.stdout
    warned = summary(res)
    assert re.search(r"^test_synthetic.py::test_sum_torch\n\s+\S*test_synthetic.py:13: "
                     r"UserWarning: child says hello$", warned, re.MULTILINE), warned
    assert warned.count("UserWarning: child says hello") == 1
    assert warned.count("UserWarning: module says hi") == 1     # the parent's, once
    assert summary(pytest_run(tmp_path, "--bench-one-process", source=WARNS)) == warned


@pytest.mark.slow
def test_mlsandbox_bench_end_to_end(tmp_path):
    """The real suite, two frameworks, two repeats, as cheap as pytest-benchmark allows."""
    out = tmp_path / "r"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSANDBOX_BENCH_")}
    res = subprocess.run(
        [sys.executable, "-m", "mlsandbox", "bench", "--repeat", "2", "--out", str(out),
         str(REPO / "bench" / "bench_textclf.py"), "-k", "forward and (numpy or torch)",
         "--benchmark-min-rounds=1", "--benchmark-max-time=0.01"],
        env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    lines = res.stdout.splitlines()
    assert lines[0].startswith("mlsandbox bench: collecting the benchmarks of")
    progress = [l for l in lines if l.startswith("[")]
    assert [l.split(":")[0] for l in progress if l.endswith("...")] == [
        "[1/2] numpy", "[1/2] torch", "[2/2] numpy", "[2/2] torch"]   # interleaved
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        f"r{i}-{k}.{ext}" for i in (1, 2) for k in ("numpy", "torch") for ext in ("json", "log")]
    merged = json.loads((out / "bench.json").read_text())
    assert [(b["extra_info"]["repeat"], b["extra_info"]["framework"])
            for b in merged["benchmarks"]] == [(1, "numpy"), (1, "torch"), (2, "numpy"),
                                               (2, "torch")]
    assert merged["mlsandbox"]["repeats"] == 2
    rows = table_rows(res.stdout, "benchmark")
    assert rows["benchmark"] == ["NumPy", "PyTorch"] and "textclf-forward" in rows
    assert all("[" in cell for cell in rows["textclf-forward"])   # the spread over repeats
    report = (out / "report.md").read_text()
    assert "Machine: " in report and "load: load average" in report
    assert re.search(r"date: \d{4}-\d\d-\d\d \d\d:\d\d", report)
    assert {p.name for p in out.iterdir()} == {"bench.json", "bench-1.png", "metrics.json",
                                               "report.md", "runs"}
