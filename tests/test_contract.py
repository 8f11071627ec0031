"""The public contract of models/: names, shapes, dtypes, errors, conversions, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

import models
from mlsandbox.compare import assert_close
from mlsandbox.testing.cases import NETWORK_CASES

SMALL = {"n_in": 6, "n_hidden": 5, "n_out": 4}


def test_registry():
    assert models.BACKENDS == ("numpy", "jax", "torch", "keras")
    assert "mlp" in models.NETWORKS
    assert set(models.available("mlp")) == set(models.BACKENDS)


def test_spec_parameter_table_and_init():
    spec = models.spec("mlp", **SMALL)
    assert spec.param_shapes() == {"dense1.kernel": (6, 5), "dense1.bias": (5,),
                                   "dense2.kernel": (5, 4), "dense2.bias": (4,)}
    p64, p32 = spec.init(seed=0, dtype="float64"), spec.init(seed=0, dtype="float32")
    assert list(p64) == list(spec.param_shapes())
    for k in p64:
        assert p64[k].dtype == np.float64 and p32[k].dtype == np.float32
        assert np.all(np.abs(p64[k]) <= 0.5)
        np.testing.assert_array_equal(p32[k], p64[k].astype(np.float32))
    same = spec.init(seed=0, dtype="float64")
    other = spec.init(seed=1, dtype="float64")
    assert all(np.array_equal(p64[k], same[k]) for k in p64)
    assert not np.array_equal(p64["dense1.kernel"], other["dense1.kernel"])


def test_example_batch():
    batch = models.spec("mlp", **SMALL).example(n=7, seed=0, dtype="float32")
    assert batch["x"].shape == (7, 6) and batch["x"].dtype == np.float32
    assert batch["y"].shape == (7,) and batch["y"].dtype == np.int64
    assert batch["y"].min() >= 0 and batch["y"].max() < 4


def test_unknown_names_are_named_in_the_error():
    with pytest.raises(KeyError, match="unknown network 'resnet'.*mlp"):
        models.spec("resnet")
    with pytest.raises(KeyError, match="unknown backend 'mxnet'.*numpy"):
        models.get("mlp", "mxnet")
    with pytest.raises(TypeError, match="mlp: bad config"):
        models.spec("mlp", n_layers=3)
    with pytest.raises(ValueError, match="n_hidden must be a positive integer"):
        models.spec("mlp", n_hidden=0)


@pytest.mark.parametrize("backend", models.BACKENDS)
def test_shape_dtype_and_label_errors(backend):
    net = models.get("mlp", backend, **SMALL)
    spec = net.spec
    params = spec.init(seed=0, dtype="float64")
    batch = spec.example(n=3, seed=0, dtype="float64")
    with pytest.raises(models.ContractError, match=r"'dense1.kernel' has shape \(5, 6\), expected \(6, 5\)"):
        net.forward({**params, "dense1.kernel": params["dense1.kernel"].T}, batch)
    with pytest.raises(models.ContractError, match=r"missing \['dense2.bias'\]"):
        net.forward({k: v for k, v in params.items() if k != "dense2.bias"}, batch)
    with pytest.raises(models.ContractError, match="mix dtypes"):
        net.forward({**params, "dense1.bias": params["dense1.bias"].astype("float32")}, batch)
    with pytest.raises(models.ContractError, match=r"batch x has shape \(3, 7\), expected \(n, 6\)"):
        net.forward(params, {"x": np.zeros((3, 7))})
    with pytest.raises(models.ContractError, match="dtype float32 but the parameters are float64"):
        net.forward(params, {"x": batch["x"].astype("float32")})
    with pytest.raises(models.ContractError, match=r"labels must lie in \[0, 4\)"):
        net.loss_and_grads(params, {**batch, "y": np.array([0, 1, 4])})
    with pytest.raises(models.ContractError, match="integer class ids"):
        net.loss_and_grads(params, {**batch, "y": np.array([0.0, 1.0, 2.0])})
    with pytest.raises(models.ContractError, match="pass steps=N"):
        net.train(params, batch, "sgd", lr=0.1)
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'"):
        net.train(params, [batch], "adamax", lr=0.1)


def test_missing_framework_names_the_install_command(monkeypatch):
    import importlib

    from models import frameworks

    real = importlib.import_module

    def fake(name, *a, **k):
        if name.split(".")[0] == "torch":
            raise ImportError("No module named 'torch'")
        return real(name, *a, **k)

    monkeypatch.setattr(frameworks.importlib, "import_module", fake)
    with pytest.raises(models.FrameworkMissing, match="install it with: pip install torch"):
        frameworks._import("torch")


@pytest.mark.parametrize("name, backend", [
    pytest.param(n, b, id=f"{n}-{b}") for n in NETWORK_CASES for b in models.BACKENDS])
def test_native_round_trip(name, backend):
    """Canonical -> the framework's own model -> canonical is the identity for every
    network (non-trainable state such as batch norm's running statistics included)."""
    if backend not in models.available(name):
        pytest.skip(f"{name} has no {backend} implementation")
    net = models.get(name, backend, **NETWORK_CASES[name]["config"])
    params = net.spec.init(seed=0, dtype="float64")
    back = net.from_native(net.to_native(params))
    assert list(back) == list(params)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k])


def test_torch_native_layout_is_out_in():
    net = models.get("mlp", "torch", **SMALL)
    params = net.spec.init(seed=0, dtype="float64")
    module = net.to_native(params)
    assert tuple(module.dense1.weight.shape) == (5, 6)
    np.testing.assert_array_equal(module.dense1.weight.detach().numpy(), params["dense1.kernel"].T)


@pytest.mark.parametrize("writer, reader", [("torch", "jax"), ("keras", "torch"), ("jax", "numpy")])
def test_checkpoint_written_by_one_framework_read_by_another(tmp_path, writer, reader):
    spec = models.spec("mlp", **SMALL)
    params = spec.init(seed=0, dtype="float64")
    batch = spec.example(n=5, seed=1, dtype="float64")
    trained, _ = models.get("mlp", writer, **SMALL).train(params, batch, "sgd", steps=3, lr=0.1)
    path = models.save_checkpoint(tmp_path / "ckpt.safetensors", trained, spec=spec,
                                  meta={"step": 3, "framework": writer})
    loaded, opt_state, meta = models.load_checkpoint(path, spec)
    assert meta == {"step": 3, "framework": writer} and opt_state == {}
    for k in trained:
        np.testing.assert_array_equal(loaded[k], trained[k])
    want = models.get("mlp", writer, **SMALL).forward(trained, batch)
    got = models.get("mlp", reader, **SMALL).forward(loaded, batch)
    assert_close(got, want, 1e-10, "logits after a checkpoint round trip")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]  # no temp files left


def test_checkpoint_errors(tmp_path):
    spec = models.spec("mlp", **SMALL)
    params = spec.init(seed=0, dtype="float32")
    path = models.save_checkpoint(tmp_path / "a.safetensors", params, spec=spec)
    with pytest.raises(models.ContractError, match=r"'dense1.kernel' has shape \(6, 5\), expected \(7, 5\)"):
        models.load_checkpoint(path, models.spec("mlp", n_in=7, n_hidden=5, n_out=4))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(path.read_bytes()[:40])
    with pytest.raises(models.ContractError, match="not a readable safetensors checkpoint"):
        models.load_checkpoint(bad, spec)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        models.load_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(models.ContractError, match="parameter names do not match"):
        models.save_checkpoint(tmp_path / "c.safetensors", {"w": params["dense1.bias"]}, spec=spec)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "bad.safetensors"]


def test_checkpoint_keeps_optimizer_state_shapes(tmp_path):
    """A 0-d step count stays 0-d (np.ascontiguousarray would make it shape (1,))."""
    spec = models.spec("mlp", **SMALL)
    params = spec.init(seed=0, dtype="float64")
    batch = spec.example(n=5, seed=1, dtype="float64")
    net = models.get("mlp", "torch", **SMALL)
    params, _, state = net.train(params, [batch], "sgd", lr=0.1, momentum=0.9,
                                 return_opt_state=True)
    path = models.save_checkpoint(tmp_path / "c.safetensors", params, spec=spec, opt_state=state)
    _, loaded, _ = models.load_checkpoint(path, spec)
    assert set(loaded) == set(state)
    for k in state:
        assert loaded[k].shape == np.shape(state[k]), k
        np.testing.assert_array_equal(loaded[k], state[k])
    assert loaded["step"].shape == ()
    # and it resumes in another framework
    models.get("mlp", "jax", **SMALL).train(params, [batch], "sgd", lr=0.1, momentum=0.9,
                                            opt_state=loaded)
