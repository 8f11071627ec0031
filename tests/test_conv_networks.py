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
