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
