"""``mlsandbox study``: the main job, on the embedded default data."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile

import pytest

from mlsandbox import cli, studies
from mlsandbox.data import datasets, images
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


# ------------------------------------------------- every flag checked before any work


def no_run(monkeypatch, study: str):
    """Make ``study``'s run fail the test if it is reached."""
    def run(config, out):
        raise AssertionError("the study ran although its flags were bad")

    monkeypatch.setattr(studies.discover()[study], "run", run)


@pytest.mark.parametrize("study, flags, message", [
    ("mlp", ["--backends", ","], "--backends ',': no backend named in ','; expected a comma "
                                 "list of ['numpy', 'jax', 'torch', 'keras'] or 'all'"),
    ("mlp", ["--backends", "numpy,,caffe"], "unknown backend(s) ['caffe']; expected a comma "
                                            "list of ['numpy', 'jax', 'torch', 'keras']"),
    ("mlp", ["--backends", "numpy,numpy"], "backend(s) ['numpy'] named twice"),
    ("mlp", ["--steps", "-5"], "--steps -5: expected an integer >= 1"),
    ("mlp", ["--chunk", "0"], "--chunk 0: expected an integer >= 1"),
    ("mlp", ["--seed", "-1"], "--seed -1: expected an integer in [0, 2**32)"),
    ("mlp", ["--lr", "nan"], "--lr nan: expected a finite number"),
    ("mlp", ["--lr", "-0.1"], "--lr -0.1: expected a finite number > 0"),
    ("mlp", ["--hidden", "0"], "--hidden 0: expected an integer >= 1"),
    ("mlp", ["--dtype", "float16"], "--dtype 'float16': expected float32 or float64"),
    ("tinyvgg", ["--epochs", "0"], "--epochs 0: expected an integer >= 1"),
    ("tinyvgg", ["--batch-size", "0"], "--batch-size 0: expected an integer >= 1"),
    ("cnn", ["--train-limit", "-1"], "--train-limit -1: expected an integer >= 0"),
    ("optimizers", ["--momentum", "1.5"], "--momentum 1.5: expected a number in [0, 1)"),
    ("optimizers", ["--init-scale", "inf"], "--init-scale inf: expected a finite number"),
])
def test_bad_flags_are_refused_before_anything_runs(tmp_path, capsys, monkeypatch, study,
                                                    flags, message):
    no_run(monkeypatch, study)
    code = cli.main(["study", study, *flags, "--progress", "false", "--out", str(tmp_path / "r")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"mlsandbox study {study}: error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_an_out_path_that_is_a_file_is_refused_and_kept(tmp_path, capsys, monkeypatch):
    no_run(monkeypatch, "mlp")
    out = tmp_path / "notes.txt"
    out.write_text("my notes")
    assert cli.main(["study", "mlp", "--data", "digits", "--out", str(out)]) == 1
    assert f"report folder (--out) {out} exists and is not a folder" in capsys.readouterr().err
    assert out.read_text() == "my notes" and sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.txt"]  # not moved aside as .notes.txt.old


def test_an_out_folder_that_is_not_a_report_is_refused_and_kept(tmp_path, capsys, monkeypatch):
    no_run(monkeypatch, "mlp")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    assert cli.main(["study", "mlp", "--out", str(tmp_path / "photos")]) == 1
    assert "is not empty and holds no report (no report.md)" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "photos").iterdir()] == ["cat.jpg"]
    blocked = tmp_path / "photos" / "cat.jpg" / "r"
    assert cli.main(["study", "mlp", "--out", str(blocked)]) == 1
    assert "cat.jpg is not a folder" in capsys.readouterr().err


def test_an_earlier_report_is_replaced(tmp_path):
    out = tmp_path / "r"
    for steps in ("2", "3"):
        assert cli.main(["study", "mlp", "--data", "digits", "--steps", steps, "--chunk", "1",
                         "--backends", "numpy", "--progress", "false", "--out", str(out)]) == 0
    runs = json.loads((out / "metrics.json").read_text())["runs"]
    assert len(runs["numpy"]["losses"]) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no temporary or .old folders


def test_a_mistyped_data_dir_is_an_error_not_the_digits(tmp_path, capsys, monkeypatch):
    no_run(monkeypatch, "mlp")
    typo = tmp_path / "sahred" / "data"
    assert cli.main(["study", "mlp", "--data-dir", str(typo), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert f"--data-dir '{typo}': no such folder {typo}" in err and "--download" in err


def test_a_data_dir_without_mnist_is_an_error_not_the_digits(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = cli.main(["study", "mlp", "--data-dir", str(tmp_path / "empty"), "--backends",
                     "numpy", "--steps", "1", "--progress", "false", "--out", str(tmp_path / "r")])
    assert code == 1
    assert f"MNIST not found: {tmp_path / 'empty' / 'mnist'} lacks" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_fashion_from_a_folder_of_mnist_digits_fails_before_training(shared_data, tmp_path,
                                                                     capsys, monkeypatch):
    from mlsandbox import engine

    def fit(*a, **k):
        raise AssertionError("trained on the wrong data")

    monkeypatch.setattr(engine, "fit", fit)
    code = cli.main(["study", "tinyvgg", "--data", "fashion", "--data-dir",
                     str(shared_data / "mnist"), "--backends", "numpy", "--progress", "false",
                     "--out", str(tmp_path / "r")])
    assert code == 1
    err = capsys.readouterr().err
    assert "holds MNIST (handwritten digits), not Fashion-MNIST" in err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    def run(config, out):
        raise KeyboardInterrupt

    monkeypatch.setattr(studies.discover()["mlp"], "run", run)
    assert cli.main(["study", "mlp", "--data", "digits", "--out", str(tmp_path / "r")]) == 130
    captured = capsys.readouterr()
    assert captured.err == "mlsandbox: interrupted\n" and captured.out == ""


def test_sigint_during_training_leaves_one_line_and_no_report(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlsandbox", "study", "mlp", "--no-tuned-alloc", "--data",
         "digits", "--steps", "100000000", "--chunk", "1", "--backends", "numpy",
         "--progress", "false", "--out", str(tmp_path / "r")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # well inside the training loop (it would run for hours)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err == "mlsandbox: interrupted\n" and out == "", err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- --download


def test_download_flag_is_offered_where_data_can_be_downloaded():
    parser = cli.build_parser()
    assert parser.parse_args(["study", "mlp", "--download"]).download is True
    assert parser.parse_args(["study", "tinyvgg"]).download is False
    with pytest.raises(SystemExit):
        parser.parse_args(["study", "logreg", "--download"])  # breast cancer ships in sklearn


def test_download_flag_fetches_mnist(http_server, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MLSANDBOX_MNIST_URL", http_server(shared_data / "mnist"))
    data_dir = tmp_path / "new-data"
    code = cli.main(["study", "mlp", "--data", "mnist", "--download", "--data-dir", str(data_dir),
                     "--backends", "numpy", "--steps", "2", "--chunk", "1", "--progress",
                     "false", "--out", str(tmp_path / "r")])
    assert code == 0
    for name in datasets.IDX_FILES.values():
        got = (data_dir / "mnist" / name).read_bytes()
        assert got == (shared_data / "mnist" / name).read_bytes()
    assert "on MNIST" in (tmp_path / "r" / "report.md").read_text()


def test_download_flag_fetches_pizza_steak_sushi(http_server, shared_data, tmp_path, monkeypatch):
    pss = shared_data / "pizza_steak_sushi"
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "pss.zip", "w", zipfile.ZIP_STORED) as zf:
        for rel in sorted(images.pizza_steak_sushi_sha256()):
            zf.write(pss / rel, rel)
    monkeypatch.setenv("MLSANDBOX_PIZZA_STEAK_SUSHI_URL", http_server(served) + "pss.zip")
    code = cli.main(["study", "tinyvgg", "--download", "--data-dir", str(tmp_path / "d"),
                     "--backends", "numpy", "--epochs", "1", "--batch-size", "4",
                     "--train-limit", "4", "--hidden", "2", "--progress", "false",
                     "--out", str(tmp_path / "r")])
    assert code == 0
    assert len(list((tmp_path / "d" / "pizza_steak_sushi").rglob("*.jpg"))) == 300
    assert "on pizza_steak_sushi" in (tmp_path / "r" / "report.md").read_text()


# -------------------------------------------------------------------- report folders


def test_report_folder_mode_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with Report(tmp_path / "r", "t") as r:
            r.text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r").stat().st_mode) == 0o755


def test_temporary_folders_of_killed_runs_are_swept(tmp_path):
    dead = tmp_path / ".r.999999999-abcdefgh"
    live = tmp_path / f".r.{os.getpid()}-x1234567"
    other = tmp_path / ".s.999999999-abcdefgh"
    moved = tmp_path / ".r.999999999-old"  # an earlier report moved aside, then a kill
    notes = tmp_path / ".r.notes"  # the user's: not a name tempfile makes
    for p in (dead, live, other, moved, notes):
        (p / "tensorboard").mkdir(parents=True)
    a_week_ago = time.time() - 7 * 86400
    os.utime(notes, (a_week_ago, a_week_ago))
    with Report(tmp_path / "r", "t"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["r", live.name, other.name, notes.name])


def test_mlp_study_on_two_devices_equals_the_reference(tmp_path, monkeypatch):
    """``--devices 2``: torch trains on two gloo ranks started by the study (the odd
    example of the digits left out so the full batch splits); the curves stay the
    reference's."""
    import json

    monkeypatch.setenv("MLSANDBOX_CPU_DEVICES", "1")   # undone after: the study sets 2

    code = cli.main(["study", "mlp", "--devices", "2", "--backends", "numpy,torch",
                     "--steps", "4", "--chunk", "2", "--progress", "no",
                     "--out", str(tmp_path / "r")])
    assert code == 0
    runs = json.loads((tmp_path / "r" / "metrics.json").read_text())["runs"]
    assert runs["torch"]["max_loss_deviation"] < 1e-5
    assert "torch: torch.nn.parallel.DistributedDataParallel over 2 processes" in (tmp_path / "r" / "report.md").read_text()


def test_devices_flag_is_checked_first(tmp_path, capsys):
    code = cli.main(["study", "mlp", "--devices", "0", "--out", str(tmp_path / "r")])
    assert code == 1 and "--devices" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
