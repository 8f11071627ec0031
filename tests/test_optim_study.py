"""``mlsandbox study optimizers`` end to end on the embedded digits (few epochs); the full
MNIST run and its numbers are in the README."""

from __future__ import annotations

import json

from mlsandbox import cli
from mlsandbox.studies import discover, optimizers


def test_the_study_is_discovered():
    assert discover()["optimizers"] is optimizers


def test_optimizer_study_on_digits(tmp_path):
    out = tmp_path / "report"
    code = cli.main(["study", "optimizers", "--data", "digits", "--epochs", "2",
                     "--dtype", "float64", "--adam-eps-hat", "native", "--progress", "false",
                     "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "loss_curves.png", "metrics.json", "report.md", "test_accuracy.png"]
    runs = json.loads((out / "metrics.json").read_text())["runs"]
    assert set(runs) == {"sgd", "momentum", "adam"}
    for label, per_backend in runs.items():
        assert set(per_backend) == {"numpy", "jax", "torch", "keras"}
        for b, r in per_backend.items():
            assert len(r["test_accuracy"]) == 2 and 0.0 <= r["final_test_accuracy"] <= 1.0
            assert r["epoch_mean_losses"][-1] < r["epoch_mean_losses"][0], (label, b)
            if (label, b) == ("adam", "keras"):
                # Keras's own Adam: epsilon-hat (the conventions table); visible, small
                assert 1e-12 < r["max_loss_deviation"] < 1e-3
            else:  # float64, the same batches: the four curves coincide to rounding
                assert r["max_loss_deviation"] <= 1e-9, (label, b)
    text = (out / "report.md").read_text()
    assert "| optimizer | framework | final test acc |" in text
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_optimizer_is_refused(tmp_path, capsys):
    code = cli.main(["study", "optimizers", "--data", "digits", "--optimizers", "sgd,lbfgs",
                     "--progress", "false", "--out", str(tmp_path / "r")])
    assert code == 1
    assert "unknown optimizer 'lbfgs'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_keras_adam_form_for_the_reference(tmp_path):
    """``--adam-eps-hat true``: the NumPy reference computes Keras's epsilon-hat Adam, so
    Keras coincides with it and torch (which has only its own form) does not."""
    out = tmp_path / "report"
    code = cli.main(["study", "optimizers", "--data", "digits", "--epochs", "1",
                     "--optimizers", "adam", "--adam-eps-hat", "true", "--dtype", "float64",
                     "--backends", "numpy,torch,keras", "--progress", "false",
                     "--out", str(out)])
    assert code == 0
    runs = json.loads((out / "metrics.json").read_text())["runs"]["adam"]
    assert runs["keras"]["max_loss_deviation"] <= 1e-9
    assert runs["torch"]["max_loss_deviation"] > 1e-12
    assert runs["numpy"]["optimizer"][1]["eps_hat"] is True
    assert "eps_hat" not in runs["torch"]["optimizer"][1]
