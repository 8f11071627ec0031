"""``mlsandbox study tinyvgg`` and ``mlsandbox study cnn`` end to end on small slices of
the real data (the full runs and their numbers are in the README)."""

from __future__ import annotations

import json

import pytest

from mlsandbox.studies import cnn, discover, tinyvgg


def test_the_studies_are_discovered():
    found = discover()
    assert "tinyvgg" in found and "cnn" in found


@pytest.mark.torch
def test_tinyvgg_study_on_pizza_steak_sushi(shared_data, tmp_path):
    config = tinyvgg.Config(data_dir=str(shared_data), backends="numpy,torch", epochs=2,
                            train_limit=40, progress=False)
    out = tinyvgg.run(config, tmp_path / "report")
    md = (out / "report.md").read_text()
    assert "TinyVGG (hidden 10, padding valid) on pizza_steak_sushi" in md
    metrics = json.loads((out / "metrics.json").read_text())
    runs = metrics["runs"]
    assert set(runs) == {"numpy", "torch"} and metrics["network"]["image_size"] == 64
    assert len(runs["torch"]["history"]["val_accuracy"]) == 2
    assert runs["torch"]["max_step_loss_deviation"] < 1e-4      # float32, same init
    assert (out / "loss_curves.png").stat().st_size > 0
    assert (out / "tensorboard" / "tinyvgg-torch").is_dir()


@pytest.mark.jax
def test_cnn_study_on_mnist_checkpoints_and_resumes(shared_data, tmp_path):
    ckpt = tmp_path / "ckpt"
    config = cnn.Config(data_dir=str(shared_data), backends="jax", epochs=1,
                        train_limit=256, progress=False, checkpoint_dir=str(ckpt))
    out = cnn.run(config, tmp_path / "report")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == "MNIST" and set(metrics["runs"]) == {"jax"}
    assert 0.0 <= metrics["runs"]["jax"]["final_test_accuracy"] <= 1.0
    assert (ckpt / "cnn-jax.safetensors").is_file()
    config.epochs = 2                              # continues at epoch 2 from the file
    out = cnn.run(config, tmp_path / "report")
    history = json.loads((out / "metrics.json").read_text())["runs"]["jax"]["history"]
    assert history["epoch"] == [1, 2]
    assert history["val_accuracy"][0] == metrics["runs"]["jax"]["final_test_accuracy"]


@pytest.mark.jax
def test_tinyvgg_study_with_the_onednn_kernels(shared_data, tmp_path):
    """``--jax-impl onednn``: the JAX column trains with kernels/accel's oneDNN set, step
    for step with the NumPy reference (float32), and the report says which kernels ran."""
    from kernels.accel import native

    if native.unavailable() is not None:
        pytest.skip(f"impl='onednn': {native.unavailable()}")
    config = tinyvgg.Config(data_dir=str(shared_data), backends="numpy,jax", epochs=1,
                            train_limit=64, progress=False, jax_impl="onednn")
    out = tinyvgg.run(config, tmp_path / "report")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["jax_impl"] == "onednn"
    assert metrics["runs"]["jax"]["max_step_loss_deviation"] < 1e-4
    assert 'kernel set `impl="onednn"`' in (out / "report.md").read_text()


def test_an_unknown_jax_kernel_set_is_named_and_writes_nothing(tmp_path, capsys):
    from mlsandbox import cli

    code = cli.main(["study", "mlp", "--data", "digits", "--backends", "numpy,jax",
                     "--jax-impl", "turbo", "--progress", "no", "--out", str(tmp_path / "r")])
    assert code == 1
    err = capsys.readouterr().err
    assert "impl='turbo'" in err and "['xla', 'fused', 'onednn', 'auto']" in err
    assert list(tmp_path.iterdir()) == []
