"""``mlsandbox study``: the main job, on the embedded default data."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlsandbox import cli, studies
from mlsandbox.report import Report, markdown_table


def test_study_list(capsys):
    assert cli.main(["study", "--list"]) == 0
    assert "mlp" in capsys.readouterr().out


def test_config_flags_come_from_the_dataclass():
    parser = cli.build_parser()
    args = parser.parse_args(["study", "mlp", "--steps", "7", "--lr", "0.5", "--progress", "no",
                              "--backends", "numpy,torch"])
    config = studies.config_from_args(studies.discover()["mlp"].Config, args)
    assert (config.steps, config.lr, config.progress, config.backends) == (7, 0.5, False, "numpy,torch")
    with pytest.raises(SystemExit):
        parser.parse_args(["study", "mlp", "--progress", "maybe"])


def test_mlp_study_on_digits_writes_a_report(tmp_path):
    out = tmp_path / "report"
    code = cli.main(["study", "mlp", "--data", "digits", "--steps", "40", "--chunk", "20",
                     "--dtype", "float64", "--progress", "false", "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["loss_curves.png", "metrics.json", "report.md"]
    metrics = json.loads((out / "metrics.json").read_text())
    runs = metrics["runs"]
    assert set(runs) == {"numpy", "jax", "torch", "keras"}
    for b, r in runs.items():
        assert len(r["losses"]) == 40
        assert r["losses"][-1] < r["losses"][0]
        assert r["max_loss_deviation"] <= 1e-10, b  # float64, 40 steps: rounding only
        assert 0.0 <= r["test_accuracy"] <= 1.0
    text = (out / "report.md").read_text()
    assert "| framework | final loss |" in text and "scikit-learn digits" in text
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary directories left


def test_bad_backend_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    code = cli.main(["study", "mlp", "--data", "digits", "--backends", "numpy,caffe",
                     "--out", str(tmp_path / "r")])
    assert code == 1
    assert "unknown backend(s) ['caffe']" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_report_is_all_or_nothing(tmp_path):
    out = tmp_path / "r"
    with Report(out, "first") as r:
        r.table(["a", "b"], [[1, 0.5]])
    with pytest.raises(RuntimeError):
        with Report(out, "second") as r:
            r.text("half written")
            raise RuntimeError("training diverged")
    assert "first" in (out / "report.md").read_text()  # the old report is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_markdown_table_formats_numbers():
    assert markdown_table(["x", "y"], [[1.23456789, 1e-9]]).splitlines()[2] == "| 1.235 | 1.00e-09 |"


def test_module_entry_point():
    res = subprocess.run([sys.executable, "-m", "mlsandbox", "study", "--list"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "mlp" in res.stdout


def test_no_tuned_alloc_is_accepted_after_the_study_name(tmp_path):
    res = subprocess.run([sys.executable, "-m", "mlsandbox", "study", "mlp", "--no-tuned-alloc",
                          "--data", "digits", "--steps", "2", "--chunk", "1", "--backends",
                          "numpy", "--progress", "false", "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "re-running under the tuned allocator" not in res.stderr
    assert (tmp_path / "r" / "report.md").is_file()
