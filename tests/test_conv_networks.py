"""The convolutional networks' specs: shapes, init, config errors, registry."""

from __future__ import annotations

import numpy as np
import pytest

import models


def test_tinyvgg_shapes_match_the_course():
    spec = models.spec("tinyvgg")                  # 64x64x3, hidden 10, 3 classes, padding 0
    assert spec.side() == 13                       # 64 -> 62 -> 60 -> 30 -> 28 -> 26 -> 13
    shapes = spec.param_shapes()
    assert shapes["conv1.kernel"] == (3, 3, 3, 10)
    assert shapes["conv4.kernel"] == (3, 3, 10, 10)
    assert shapes["dense.kernel"] == (10 * 13 * 13, 3)
    fashion = models.spec("tinyvgg", image_size=28, channels=1, n_out=10, padding="same")
    assert fashion.side() == 7 and fashion.param_shapes()["dense.kernel"] == (490, 10)


def test_tinyvgg_init_is_torch_default_and_seeded():
    spec = models.spec("tinyvgg")
    p = spec.init(seed=0, dtype="float32")
    assert all(v.dtype == np.float32 for v in p.values())
    for k, v in p.items():
        layer = k.split(".")[0]
        fan_in = np.prod(spec.param_shapes()[f"{layer}.kernel"][:-1])
        assert np.abs(v).max() <= 1 / np.sqrt(fan_in), k
        if k.endswith("kernel"):
            assert np.abs(v).max() > 0.9 / np.sqrt(fan_in), k  # fills the range
    q = spec.init(seed=0, dtype="float32")
    assert all(np.array_equal(p[k], q[k]) for k in p)


@pytest.mark.parametrize("config, match", [
    ({"padding": "full"}, "padding must be"),
    ({"image_size": 12}, "too small"),
    ({"hidden": 0}, "positive integer"),
])
def test_tinyvgg_bad_config(config, match):
    with pytest.raises(ValueError, match=match):
        models.spec("tinyvgg", **config)


def test_tinyvgg_wrong_image_shape_is_named():
    net = models.get("tinyvgg", "numpy")
    params = net.spec.init(dtype="float64")
    bad = {"x": np.zeros((2, 28, 28, 1)), "y": np.zeros(2, np.int64)}
    with pytest.raises(models.ContractError, match=r"expected \(n, 64, 64, 3\)"):
        net.forward(params, bad)


def test_cnn_shapes_match_the_keras_example():
    spec = models.spec("cnn")
    assert spec.side() == 5 and spec.features() == 1600      # 28 -> 26 -> 13 -> 11 -> 5
    assert spec.param_shapes()["conv2.kernel"] == (3, 3, 32, 64)
    assert spec.param_shapes()["dense.kernel"] == (1600, 10)
    assert spec.dropout() == {"dropout": 0.5}
    assert spec.masks(4)["dropout"].shape == (4, 1600)


def test_cnn_init_is_glorot_uniform_with_zero_bias():
    p = models.spec("cnn").init(seed=0, dtype="float64")
    assert not p["conv1.bias"].any() and not p["dense.bias"].any()
    limit = np.sqrt(6 / (9 * 32 + 9 * 64))
    assert limit * 0.95 < np.abs(p["conv2.kernel"]).max() <= limit
    assert abs(p["conv2.kernel"].std() - limit / np.sqrt(3)) < 0.02 * limit


def test_cnn_numpy_train_mode_without_a_mask_draws_one_from_seed_and_step():
    """The reference has no RNG of its own: a train-mode call without a mask uses
    ``spec.masks(n, seed=[0, 0])`` (seed 0, step 0); training draws ``[seed, step]``."""
    net = models.get("cnn", "numpy", image_size=16)
    params = net.spec.init(seed=0, dtype="float64")
    batch = net.spec.example(n=2, seed=0, dtype="float64")
    a, b = net.forward(params, batch, train=True), net.forward(params, batch, train=True)
    assert np.array_equal(a, b)
    drawn = {**batch, "masks": net.spec.masks(2, seed=[0, 0])}
    assert np.array_equal(a, net.forward(params, drawn, train=True))
    other = {**batch, "masks": net.spec.masks(2, seed=[0, 1])}
    assert not np.allclose(a, net.forward(params, other, train=True))
    assert not np.allclose(a, net.forward(params, batch))


@pytest.mark.parametrize("backend", models.BACKENDS)
def test_cnn_bad_mask_is_named(backend):
    net = models.get("cnn", backend, image_size=16)
    params = net.spec.init(seed=0, dtype="float64")
    batch = {**net.spec.example(n=2, dtype="float64"), "masks": {"dropout": np.ones((2, 7))}}
    with pytest.raises(models.ContractError, match=r"mask 'dropout' has shape \(2, 7\), "
                                                   r"expected \(2, 256\)"):
        net.forward(params, batch, train=True)
