"""``mlsandbox study`` without a study name: every study into one report, whose
``report.html`` a real headless browser renders with every image and no console message.

One cheap run (the parity grid in NumPy and torch, the MLP and logistic-regression
studies at tiny settings) is shared by the module; the full default run is in
docs/report.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from mlsandbox import cli, studies
from mlsandbox.compare import TOLERANCE
from mlsandbox.studies import overview

pytestmark = pytest.mark.torch

#: tiny settings of the studies this module runs
TINY = {"mlp": {"steps": 20, "chunk": 5}, "logreg": {"n_splits": 2, "grid_C": ""}}
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The folder of one ``mlsandbox study --only parity,mlp,logreg`` run (numpy, torch)."""
    out = tmp_path_factory.mktemp("all") / "report"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(overview, "SETTINGS", {**overview.SETTINGS, **TINY})
        code = cli.main(["study", "--only", "parity,mlp,logreg", "--backends", "numpy,torch",
                         "--progress", "false", "--out", str(out)])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def metrics(report):
    return json.loads((report / "metrics.json").read_text())


# -- the command line --------------------------------------------------------------------
def test_list_still_lists_and_exits_0(capsys):
    assert cli.main(["study", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in studies.discover())


@pytest.mark.parametrize("flags, message", [
    (["--only", "mlp,caffe"], "--only 'mlp,caffe': unknown part(s) ['caffe']; expected a "
                              "comma list of ['parity', 'mlp'"),
    (["--skip", "mlp,mlp"], "--skip 'mlp,mlp': part(s) ['mlp'] named twice"),
    (["--only", "mlp", "--skip", "mlp"], "leaves nothing to run"),
    (["--backends", "numpy,caffe"], "unknown backend(s) ['caffe']"),
    (["--progress", "false", "--data-dir", "/no/such/folder"], "no such folder"),
])
def test_bad_flags_are_one_error_line_before_anything_runs(flags, message, tmp_path, capsys,
                                                           monkeypatch):
    def run(*a, **k):
        raise AssertionError("the run started although a flag was bad")

    monkeypatch.setattr(overview, "run", run)
    assert cli.main(["study", *flags, "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mlsandbox study: error: ") and message in err, err
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_an_out_that_is_a_file_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(overview, "run", lambda *a, **k: pytest.fail("ran"))
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["study", "--out", str(tmp_path / "notes.txt")]) == 1
    assert "exists and is not a folder" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_flags_of_the_all_run_before_a_study_name_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(studies.discover()["mlp"], "run", lambda *a: pytest.fail("ran"))
    assert cli.main(["study", "--only", "parity", "mlp", "--out", str(tmp_path / "r")]) == 1
    assert "mlsandbox study mlp: error: --only before the study name" in \
        capsys.readouterr().err


def test_parts_follow_only_and_skip_in_report_order():
    names = overview.ordered(studies.discover())
    assert names[:3] == ("mlp", "optimizers", "logreg")
    assert overview.Config().parts(names) == ("parity", *names)
    assert overview.Config(only="logreg,mlp").parts(names) == ("mlp", "logreg")
    assert overview.Config(skip="parity,bert").parts(names) == tuple(
        n for n in names if n != "bert")


def test_the_settings_name_fields_the_studies_have():
    found = studies.discover()
    configs = overview.study_configs(overview.Config(), tuple(found), found, "all",
                                     overview.SETTINGS)
    assert set(configs) == set(found) and configs["bert"].model == "tiny"
    with pytest.raises(ValueError, match=r"settings of study mlp: no such field\(s\) \['epoch'\]"):
        overview.study_configs(overview.Config(), ("mlp",), found, "all", {"mlp": {"epoch": 1}})


# -- what the run wrote -------------------------------------------------------------------
def test_the_folder_holds_the_report_and_nothing_half_written(report):
    names = sorted(p.name for p in report.iterdir())
    assert names == ["logreg", "metrics.json", "mlp", "parity.png", "report.html",
                     "report.md", "speed.png"]
    assert sorted(p.name for p in report.parent.iterdir()) == ["report"]
    assert (report / "mlp" / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_metrics_hold_parity_speed_accuracy_and_each_study(metrics):
    assert metrics["parts"] == ["parity", "mlp", "logreg"]
    assert metrics["backends"] == ["numpy", "torch"] and metrics["missing_backends"] == {}
    assert metrics["tolerance"] == {f"{d}/{k}": v for (d, k), v in TOLERANCE.items()}
    parity = metrics["parity"]
    assert set(parity) >= {"mlp", "cnn", "bert_cls"}
    for name, by_backend in parity.items():
        cells = by_backend["torch"]
        assert set(cells) == {"float64", "float32"}, name
        for dtype, c in cells.items():
            assert 0 <= c["ratio"] < 1, (name, dtype, c)   # the parity suite's own bar
            assert c["worst"] in ("forward", "loss", "grads")
    (speed,) = metrics["speed"]
    assert speed["study"] == "mlp" and set(speed["ms"]) == {"numpy", "torch"}
    n, n_in = 1437, 64                       # the digits' training split, 64-10-10
    assert speed["flops"] == 4 * n * n_in * 10 + 6 * n * 10 * 10   # forward and backward
    assert speed["floor_ms"] == pytest.approx(1e3 * speed["flops"] / metrics["peak"]["flops_per_s"])
    assert set(metrics["accuracy"]["logreg"]["2-fold CV accuracy (mean)"]) == {
        "sklearn", "numpy", "torch"}
    assert metrics["studies"]["mlp"]["study"] == "mlp"
    assert len(metrics["studies"]["mlp"]["runs"]["torch"]["losses"]) == 20
    assert metrics["settings"]["mlp"] == TINY["mlp"] and metrics["skipped"] == {}


def test_markdown_has_every_section_and_the_machine_line(report):
    md = (report / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings[:4] == ["What each study ran on", "Parity with the NumPy reference",
                            "Speed", "Accuracy"]
    assert any(h.startswith("MLP 64-10-10") for h in headings)
    assert "### Per-fold results" in md                       # logreg's own, one level down
    assert headings[-1] == "Conventions that differ between frameworks"
    assert "| dense kernel layout | (out, in) |" in md          # from docs/conventions.md
    assert "d\\|w\\|/dw = 0" in md                               # its escaped pipes kept
    assert re.search(r"Run on \d{4}-\d\d-\d\d \d\d:\d\d", md) and "cores, load" in md
    assert "![parity heatmap" in md and "(mlp/loss_curves.png)" in md
    assert "| mlp | scikit-learn digits" in md and "--steps 20" in md
    assert "| mlp | test accuracy |" in md


def test_html_is_self_contained(report):
    page = (report / "report.html").read_text()
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 5      # parity, speed, the MLP's curves, logreg's ROC and matrix
    assert all('src="data:image/png;base64,' in img for img in images)
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", page)
    assert "<link" not in page and "<script src" not in page


# -- in a browser ----------------------------------------------------------------------------
def browser():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no headless browser found (looked for {', '.join(BROWSERS)} on PATH; "
                "`apt-get install chromium`)")


def test_a_headless_browser_renders_it_with_every_image_and_no_console_message(report,
                                                                              tmp_path):
    res = subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         (report / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    body = re.search(r"<body[^>]*>", res.stdout)
    assert body, res.stdout[:500]
    total = re.search(r'data-images="(\d+)"', body.group(0))
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(0))
    assert total and loaded, f"the load check did not run: {body.group(0)}"
    assert int(total.group(1)) == 5 and loaded.group(1) == total.group(1)
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    assert "Parity with the NumPy reference</h2>" in res.stdout
