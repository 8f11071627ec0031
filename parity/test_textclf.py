"""The text classifier beyond the parity table: Keras's three ways of building it agree,
the padding row gets no gradient in any framework, the all-padding convention, and
100-step Adam trajectories in float64."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import models
from mlsandbox.compare import TRAJECTORY, assert_close, tolerance
from mlsandbox.testing.cases import PEERS

CONFIG = {"vocab_size": 60, "seq_len": 15, "embedding_dim": 8, "hidden": 6}


@functools.lru_cache(maxsize=None)
def net(backend, **extra):
    return models.get("textclf", backend, **{**CONFIG, **extra})


@pytest.mark.keras
def test_keras_sequential_functional_and_subclassed_builds_agree():
    from models.frameworks import load_keras

    keras, _ = load_keras()
    spec = net("numpy").spec
    params = spec.init(seed=4, dtype="float64")
    batch = spec.example(n=9, seed=5)
    functional = net("keras").to_native(params)

    def layers():
        return [keras.layers.Embedding(spec.vocab_size, spec.embedding_dim, mask_zero=True,
                                       dtype="float64"),
                keras.layers.GlobalAveragePooling1D(dtype="float64"),
                keras.layers.Dense(spec.hidden, activation="relu", dtype="float64"),
                keras.layers.Dense(1, dtype="float64")]

    sequential = keras.Sequential([keras.Input(shape=(None,), dtype="int64"), *layers()])

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(dtype="float64")
            self.emb, self.pool, self.d1, self.d2 = layers()

        def call(self, x):
            e = self.emb(x)
            return self.d2(self.d1(self.pool(e, mask=self.emb.compute_mask(x))))

    subclassed = Subclassed()
    subclassed(batch["x"][:1])
    weights = [params[k] for k in spec.param_shapes()]
    sequential.set_weights(weights)
    subclassed.set_weights(weights)
    want = net("numpy").forward(params, batch)
    for name, model in [("functional", functional), ("sequential", sequential),
                        ("subclassed", subclassed)]:
        got = np.asarray(model(batch["x"]))
        assert_close(got, want, tolerance("float64"), f"Keras {name}")
    assert np.array_equal(np.asarray(sequential(batch["x"])), np.asarray(functional(batch["x"])))
    assert np.array_equal(np.asarray(subclassed(batch["x"])), np.asarray(functional(batch["x"])))


@pytest.mark.parametrize("backend", models.BACKENDS)
def test_padding_row_gets_no_gradient(backend):
    spec = net("numpy").spec
    params = spec.init(seed=1, dtype="float64")
    _, grads = net(backend).loss_and_grads(params, spec.example(n=6, seed=2))
    table = grads["embedding.embeddings"]
    assert np.all(table[0] == 0)
    assert np.any(table[1:] != 0)


def test_convention_all_padding_sequence():
    """An example of padding only: NumPy, torch and JAX pool it to 0 (the count is
    guarded), Keras's GlobalAveragePooling1D gives 0/0 = NaN."""
    spec = net("numpy").spec
    params = spec.init(seed=1, dtype="float64")
    batch = spec.example(n=3, seed=2)
    batch["x"][1] = 0
    ref = net("numpy").forward(params, batch)
    relu = np.maximum(params["dense1.bias"], 0)
    assert_close(ref[1], relu @ params["dense2.kernel"] + params["dense2.bias"],
                 tolerance("float64"), "pool of nothing is 0")
    for b in ("jax", "torch"):
        assert_close(net(b).forward(params, batch), ref, tolerance("float64"), b)
    keras_out = net("keras").forward(params, batch)
    assert np.isnan(keras_out[1]).all()
    assert_close(keras_out[[0, 2]], ref[[0, 2]], tolerance("float64"), "Keras, other rows")


@functools.lru_cache(maxsize=None)
def _batches(dropout):
    spec = net("numpy", dropout_rate=dropout).spec
    out = []
    for t in range(100):
        b = spec.example(n=16, seed=100 + t)
        x = np.where(b["x"] > 0, b["x"], np.nan)          # a learnable rule: low ids are
        b["y"] = (np.nanmean(x, axis=1) < spec.vocab_size / 2).astype(np.int64)  # "positive"
        if dropout:
            b["masks"] = spec.masks(16, seed=[7, t])
        out.append(b)
    return tuple(out)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("backend", [pytest.param(b, marks=getattr(pytest.mark, b)) for b in PEERS])
def test_adam_trajectory_100_steps(backend, dropout):
    forms = {"eps_hat": type(net(backend)).FORMS["eps_hat"][0]}
    params = net("numpy").spec.init(seed=3, dtype="float64")
    want = net("numpy", dropout_rate=dropout).train(params, list(_batches(dropout)), "adam",
                                                    lr=1e-2, **forms)
    got = net(backend, dropout_rate=dropout).train(params, list(_batches(dropout)), "adam",
                                                   lr=1e-2, **forms)
    assert want[1][-1] < want[1][0]
    assert_close(got[1], want[1], TRAJECTORY["optimizer"], f"{backend} losses")
    assert_close(got[0], want[0], TRAJECTORY["optimizer"], f"{backend} params")


@pytest.mark.keras
def test_convention_keras_sparse_embedding_gradients(monkeypatch):
    """Keras's own sparse path (``dense_gradients = False``): Adam squares each
    position's gradient of a repeated token separately, so the trajectory leaves the dense
    rule (measured: 8.4e-2 in the losses, 100 steps at lr 1e-2), while one step of plain
    SGD, where the rows just add up, is the same."""
    k = net("keras")
    monkeypatch.setattr(k, "dense_gradients", False)
    params = net("numpy").spec.init(seed=3, dtype="float64")
    batches = list(_batches(0.0))
    want = net("numpy").train(params, batches, "adam", lr=1e-2, eps_hat=True)
    got = k.train(params, batches, "adam", lr=1e-2, eps_hat=True)
    gap = float(np.max(np.abs(got[1] - want[1])))
    assert 1e-3 < gap < 0.5, gap
    sgd_want = net("numpy").train(params, batches[:1], "sgd", lr=0.5)
    sgd_got = k.train(params, batches[:1], "sgd", lr=0.5)
    assert_close(sgd_got[0], sgd_want[0], tolerance("float64"), "one sparse SGD step")
