"""The training engine: the four backends' fit loops agree (float64, Adam), history and
accuracy are what evaluation computes, early stopping, TensorBoard scalars, checkpoints
that resume in another framework, progress output and errors.

A small TinyVGG (20x20x3 images, 40 training and 12 validation examples, batches of 16
with a smaller last one) keeps each run under a second.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import models
from mlsandbox import engine
from mlsandbox.compare import TRAJECTORY, assert_close
from mlsandbox.engine.scalars import read_scalars

CONFIG = {"image_size": 20}
TOL = TRAJECTORY["optimizer"]
BACKENDS = [pytest.param(b, marks=getattr(pytest.mark, b)) for b in ("jax", "torch", "keras")]


@functools.lru_cache(maxsize=None)
def data(dtype="float64"):
    spec = models.spec("tinyvgg", **CONFIG)
    t, v = spec.example(n=40, seed=0, dtype=dtype), spec.example(n=12, seed=1, dtype=dtype)
    return (t["x"], t["y"]), (v["x"], v["y"])


def run(backend, epochs=2, **kw):
    train, val = data(kw.pop("dtype", "float64"))
    kw.setdefault("lr", 1e-2)
    # Keras's Adam computes epsilon-hat; the reference computes either form (eps_hat=).
    kw.setdefault("eps_hat", True if backend == "keras" else False)
    return engine.fit("tinyvgg", backend, train, val, epochs=epochs, batch_size=16,
                      dtype="float64", optimizer="adam", progress=False, config=CONFIG, **kw)


@functools.lru_cache(maxsize=None)
def reference(eps_hat=False):
    return run("numpy", eps_hat=eps_hat)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_matches_the_reference(backend):
    got = run(backend)
    want = reference(eps_hat=backend == "keras")
    for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert_close(np.array(got.history[k]), np.array(want.history[k]), TOL, k)
    assert_close(got.params, want.params, TOL, f"{backend} params after 2 epochs")
    assert_close(got.opt_state, want.opt_state, TOL, f"{backend} Adam state")
    assert int(got.opt_state["step"]) == 6                 # 3 batches x 2 epochs


def test_history_accuracy_is_what_evaluate_computes():
    r = reference()
    train, val = data()
    assert r.history["epoch"] == [1, 2] and len(r.history["seconds"]) == 2
    ev = engine.evaluate("tinyvgg", "numpy", r.params, val, config=CONFIG)
    assert ev["loss"] == pytest.approx(r.history["val_loss"][-1], rel=1e-12)
    assert ev["accuracy"] == r.history["val_accuracy"][-1]
    logits = models.get("tinyvgg", "numpy", **CONFIG).forward(r.params, {"x": val[0]})
    assert ev["accuracy"] == np.mean(logits.argmax(1) == val[1])


def test_epochs_shuffle_reproducibly_and_differently():
    a, b = engine.loop.epoch_batches(40, 16, 0, 0), engine.loop.epoch_batches(40, 16, 0, 1)
    assert [len(i) for i in a] == [16, 16, 8]
    assert np.array_equal(np.concatenate(a), np.concatenate(engine.loop.epoch_batches(40, 16, 0, 0)))
    assert sorted(np.concatenate(a)) == list(range(40))
    assert not np.array_equal(np.concatenate(a), np.concatenate(b))


class Record(engine.Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_end(self, epoch, logs, run):
        self.seen.append((epoch, dict(logs)))


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch():
    """lr=0 never improves val_loss: the run stops after 1 + patience epochs and ends
    with epoch 1's parameters (the initial ones, since nothing moved)."""
    rec = Record()
    stop = engine.EarlyStopping("val_loss", patience=2)
    r = run("numpy", epochs=10, lr=0.0, callbacks=[stop, rec])
    assert r.stopped_early and r.epochs_done == 3 and len(rec.seen) == 3
    assert r.best_epoch == 1
    init = models.spec("tinyvgg", **CONFIG).init(seed=0, dtype="float64")
    assert all(np.array_equal(r.params[k], init[k]) for k in init)


def test_early_stopping_restores_a_better_epoch_than_the_last():
    stop = engine.EarlyStopping("val_accuracy", patience=0, restore_best=True)
    r = run("numpy", epochs=6, lr=0.05, callbacks=[stop])
    best = int(np.argmax(r.history["val_accuracy"])) + 1
    assert r.stopped_early and r.best_epoch == best and r.epochs_done == best + 1


def test_early_stopping_needs_its_metric():
    with pytest.raises(KeyError, match="val_loss"):
        train, _ = data()
        engine.fit("tinyvgg", "numpy", train, epochs=1, batch_size=16, dtype="float64",
                   progress=False, config=CONFIG, callbacks=[engine.EarlyStopping()])


def test_tensorboard_scalars_one_run_directory_per_network_and_backend(tmp_path):
    r = run("numpy", log_dir=tmp_path)
    scalars = read_scalars(tmp_path / "tinyvgg-numpy")
    assert set(scalars) == {"loss/train", "accuracy/train", "loss/val", "accuracy/val"}
    assert [s for s, _ in scalars["loss/val"]] == [1, 2]
    np.testing.assert_allclose([v for _, v in scalars["loss/val"]], r.history["val_loss"],
                               rtol=1e-6)    # event files store float32


@pytest.mark.torch
@pytest.mark.jax
def test_train_two_epochs_in_torch_resume_in_jax_third_epoch_matches(tmp_path):
    ckpt = tmp_path / "tinyvgg.safetensors"
    run("torch", epochs=2, checkpoint=ckpt)
    params, opt_state, meta = models.load_checkpoint(ckpt, models.spec("tinyvgg", **CONFIG))
    assert meta["epoch"] == 2 and meta["backend"] == "torch" and opt_state["step"].item() == 6
    resumed = run("jax", epochs=3, resume=ckpt)
    straight = run("torch", epochs=3)
    assert resumed.history["epoch"] == [1, 2, 3]
    for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert_close(np.array(resumed.history[k]), np.array(straight.history[k]), TOL, k)
    assert_close(resumed.params, straight.params, TOL, "params after epoch 3")
    assert_close(resumed.opt_state, straight.opt_state, TOL, "Adam state after epoch 3")


def test_resume_refuses_another_optimizer(tmp_path):
    ckpt = tmp_path / "c.safetensors"
    run("numpy", epochs=1, checkpoint=ckpt)
    with pytest.raises(ValueError, match="trained with 'adam'"):
        train, _ = data()
        engine.fit("tinyvgg", "numpy", train, epochs=2, optimizer="sgd", lr=0.1,
                   resume=ckpt, progress=False, config=CONFIG)


def test_progress_bar_and_epoch_lines(capsys):
    train, _ = data()
    engine.fit("tinyvgg", "numpy", train, epochs=1, batch_size=16, dtype="float64",
               config=CONFIG, progress=True)
    out = capsys.readouterr()
    assert "tinyvgg/numpy epoch 1: loss" in out.out + out.err


@pytest.mark.parametrize("train, match", [
    ((np.zeros((4, 28, 28, 1)), np.zeros(4, np.int64)), r"expects \(n, 20, 20, 3\)"),
    ((np.zeros((4, 20, 20, 3), np.uint8), np.zeros(4, np.int64)), "floating point"),
    ((np.zeros((4, 20, 20, 3)), np.zeros(3, np.int64)), "integer class ids"),
])
def test_bad_data_is_named(train, match):
    with pytest.raises(ValueError, match=match):
        engine.fit("tinyvgg", "numpy", train, epochs=1, progress=False, config=CONFIG)


@pytest.mark.keras
def test_keras_gets_its_own_adam_unless_a_form_is_named():
    """Without eps_hat, Keras runs its epsilon-hat Adam (torch and optax their own); the
    reference then matches torch, and Keras differs by the documented amount."""
    train, val = data()
    kw = dict(epochs=2, batch_size=16, dtype="float64", progress=False, config=CONFIG, lr=1e-2)
    keras_run = engine.fit("tinyvgg", "keras", train, val, **kw)
    assert_close(keras_run.params, reference(eps_hat=True).params, TOL, "Keras's own Adam")
    with pytest.raises(AssertionError):
        assert_close(keras_run.params, reference(eps_hat=False).params, TOL, "torch's Adam")


@pytest.mark.parametrize("devices", [0, 1.5, True])
def test_fit_refuses_bad_devices(devices):
    x, y = np.zeros((8, 64)), np.zeros(8, np.int64)
    with pytest.raises(ValueError, match="devices must be an integer >= 1"):
        engine.fit("mlp", "numpy", (x, y), config={"n_in": 64}, devices=devices,
                   progress=False)


@pytest.mark.parametrize("n,batch_size", [(101, 32), (96, 33)])
def test_fit_refuses_batches_that_do_not_split(n, batch_size):
    """Checked before any framework starts: every batch, the last one too, must split
    into equal shards."""
    x, y = np.zeros((n, 64)), np.zeros(n, np.int64)
    with pytest.raises(ValueError, match="must be multiples of 2"):
        engine.fit("mlp", "torch", (x, y), config={"n_in": 64}, devices=2,
                   batch_size=batch_size, progress=False)


def test_fit_refuses_devices_on_the_reference():
    x, y = np.zeros((8, 64)), np.zeros(8, np.int64)
    with pytest.raises(models.ContractError, match="trains on one device"):
        engine.fit("mlp", "numpy", (x, y), config={"n_in": 64}, devices=2, batch_size=4,
                   progress=False)
