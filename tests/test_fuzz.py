"""Property-based checks that every backend refuses bad input alike, or agrees.

For every registered network (its parity-table config) and every backend, hypothesis
draws one fault at a time: a wrong shape or dtype, NaN/inf in the input, n = 0 and n = 1,
labels out of range, dropout masks of the wrong shape or values, an unknown config key,
an optimizer hyperparameter out of range (NaN/inf included).  Whatever is drawn, the four
backends either all refuse with the same exception type and the same message, which
names the bad argument, or all answer and agree numerically (non-finite where one is
non-finite - NaN or ±inf, which frameworks pick differently for infinite logits - and
within the float64 tolerance elsewhere).  Examples are bounded and derandomized, so the
suite is fast and the same on every run.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models
from mlsandbox.compare import tolerance
from mlsandbox.testing.cases import NETWORK_CASES

FUZZ = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
TOL = tolerance("float64")


@functools.lru_cache(maxsize=None)
def nets(name):
    return {b: models.get(name, b, **NETWORK_CASES[name]["config"]) for b in models.available(name)}


def outcome(fn):
    """``("error", type name, message)`` or ``("ok", value)``."""
    try:
        return ("ok", fn())
    except (ValueError, TypeError, KeyError) as exc:
        return ("error", type(exc).__name__, str(exc))


def same_numbers(got, want) -> bool:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return False
    if not np.array_equal(np.isfinite(got), np.isfinite(want)):
        return False
    fin = np.isfinite(want)
    if not fin.any():
        return True
    scale = max(1.0, float(np.max(np.abs(want[fin]))))
    return float(np.max(np.abs(got[fin] - want[fin]))) / scale <= TOL


def assert_alike(results: dict, what: str, names=(), skip_nan: tuple = ()):
    """All refuse alike, or all answer and agree; the backends in ``skip_nan`` (a
    documented difference) need only answer."""
    kinds = {r[0] for r in results.values()}
    assert len(kinds) == 1, f"{what}: some backends refuse, some answer: {results}"
    if kinds == {"error"}:
        msgs = {(r[1], r[2]) for r in results.values()}
        assert len(msgs) == 1, f"{what}: backends refuse differently: {msgs}"
        (_, msg), = msgs
        assert any(n in msg for n in names) if names else msg, f"{what}: {msg!r} names none of {names}"
        return
    ref = results["numpy"][1]
    for b, (_, value) in results.items():
        if b in skip_nan:
            continue
        if isinstance(ref, tuple):          # (loss, grads)
            assert same_numbers(value[0], ref[0]), f"{what}: {b} loss {value[0]} vs {ref[0]}"
            for k in ref[1]:
                assert same_numbers(value[1][k], ref[1][k]), f"{what}: {b} grad {k}"
        else:
            assert same_numbers(value, ref), f"{what}: {b} output differs"


NETWORKS = list(NETWORK_CASES)


def base(name, n=3, seed=0):
    spec = nets(name)["numpy"].spec
    return spec, spec.init(seed=1, dtype="float64"), spec.example(n=n, seed=seed)


@pytest.mark.parametrize("name", NETWORKS)
@given(data=st.data())
@FUZZ
def test_bad_batches_refused_alike_or_agree(name, data):
    spec, params, batch = base(name, n=data.draw(st.sampled_from([1, 2, 3])))
    fault = data.draw(st.sampled_from(["shape", "dtype", "nonfinite", "empty", "labels",
                                       "label_dtype", "masks", "mask_values", "missing"]))
    key = next(iter(spec.inputs()))            # "x", or the token ids of a multi-input net
    x = batch[key]
    length = spec.sequence_length(batch)
    names: tuple = ()
    if fault == "shape":
        batch[key] = x.reshape(x.shape[0], -1)[:, :-1] if x.ndim == 2 else x[:, :-1]
        names = ("shape",)
    elif fault == "dtype":
        batch[key] = x.astype(data.draw(st.sampled_from(["float32", "int64", "float16"])))
        names = ("dtype", "integers")
    elif fault == "nonfinite":            # a NaN/inf input value, or weight for token ids
        value = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        if np.issubdtype(x.dtype, np.floating):
            x = x.copy()
            x.flat[data.draw(st.integers(0, x.size - 1))] = value
            batch[key] = x
        else:
            k = data.draw(st.sampled_from(list(params)))
            params = {**params, k: params[k].copy()}
            params[k].flat[data.draw(st.integers(0, params[k].size - 1))] = value
    elif fault == "empty":
        batch = {k: v[:0] for k, v in batch.items()}
        names = ("empty", "0 examples")
    elif fault == "labels":
        bad = data.draw(st.sampled_from([-1, spec.n_classes, spec.n_classes + 5, -100]))
        batch["y"] = batch["y"].copy()
        batch["y"][0] = bad
        names = ("labels",)
    elif fault == "label_dtype":
        batch["y"] = batch["y"].astype("float64")
        names = ("labels",)
    elif fault == "masks":
        if not spec.dropout():
            batch["masks"] = {"dropout": np.ones((x.shape[0], 3))}
            names = ("unknown dropout layers",)
        else:
            layer = next(iter(spec.dropout()))
            batch["masks"] = {layer: np.ones((x.shape[0], 1))}
            names = ("mask", "shape")
    elif fault == "mask_values":
        if spec.dropout():
            layer = next(iter(spec.dropout()))
            batch["masks"] = {layer: np.full((x.shape[0], *spec.batch_mask_shape(layer, length)),
                                             0.5)}
            names = ("only 0 and 1",)
    elif fault == "missing":
        batch = {k: v for k, v in batch.items() if k != "y"}
        names = ("labels",)
    train = data.draw(st.booleans())
    if train and spec.dropout() and "masks" not in batch and isinstance(batch.get(key),
                                                                        np.ndarray):
        n = len(batch[key])          # the frameworks' own RNGs cannot agree: inject masks
        if n:
            batch["masks"] = spec.masks(n, seed=1, length=spec.sequence_length(batch))
    if fault == "nonfinite":   # values and losses; gradients through NaN differ on purpose
        def call(net):        # (parity/test_nonfinite.py::test_convention_relu_grad_at_nan)
            return (net.loss_and_grads(params, batch, train=train)[0],
                    {"logits": net.forward(params, batch, train=train)})
    else:
        def call(net):
            return net.loss_and_grads(params, batch, train=train)
    results = {b: outcome(lambda net=net: call(net)) for b, net in nets(name).items()}
    skip = ()
    if fault == "nonfinite" and any(c.topic == "NaN in a max-pool window"
                                    for c in spec.conventions):
        skip = ("jax", "keras")      # their max-pools skip NaN: a named convention
    assert_alike(results, f"{name} {fault} train={train}", names, skip)


HYPER = {
    "sgd": {"lr": [np.nan, np.inf, -0.1, "0.1", True], "momentum": [-0.5, 1.5, np.nan]},
    "adam": {"lr": [np.nan, -1e-3], "beta1": [1.5, -0.1, 1.0], "beta2": [1.0, np.inf],
             "eps": [-1.0, np.nan], "weight_decay": [-1.0]},
    "adamw": {"weight_decay": [np.nan, -0.01], "beta1": [2.0]},
    "rmsprop": {"rho": [1.0, -0.5], "eps": [np.inf, -1e-8]},
}


@pytest.mark.parametrize("name", NETWORKS)
@given(data=st.data())
@FUZZ
def test_bad_hyperparameters_refused_alike(name, data):
    spec, params, batch = base(name)
    opt = data.draw(st.sampled_from(sorted(HYPER)))
    key = data.draw(st.sampled_from(sorted(HYPER[opt])))
    value = data.draw(st.sampled_from(HYPER[opt][key]))
    hyper = {"lr": 0.1, key: value}
    results = {b: outcome(lambda net=net: net.train(params, [batch], opt, **hyper))
               for b, net in nets(name).items()}
    assert_alike(results, f"{name} {opt} {key}={value!r}", (key,))


@pytest.mark.parametrize("name", NETWORKS)
@given(data=st.data())
@FUZZ
def test_bad_config_and_run_arguments_refused_alike(name, data):
    fault = data.draw(st.sampled_from(["config", "steps", "seed", "empty_list"]))
    spec, params, batch = base(name)
    if fault == "config":
        key = data.draw(st.sampled_from(["n_hiden", "bogus", "dropout"]))
        results = {b: outcome(lambda b=b: models.get(name, b, **{key: 1}))
                   for b in models.BACKENDS}
        assert_alike(results, f"{name} config {key}", (key,))
        return
    if fault == "steps":
        steps = data.draw(st.sampled_from([0, -5, 2.7, True, None]))
        call = lambda net: net.train(params, batch, "sgd", steps=steps, lr=0.1)  # noqa: E731
        names = ("steps",)
    elif fault == "seed":
        seed = data.draw(st.sampled_from([-1, 2.5, "0", 2 ** 64]))
        call = lambda net: net.train(params, [batch], "sgd", seed=seed, lr=0.1)  # noqa: E731
        names = ("seed",)
    else:
        call = lambda net: net.train(params, [], "sgd", lr=0.1)  # noqa: E731
        names = ("empty",)
    results = {b: outcome(lambda net=net: call(net)) for b, net in nets(name).items()}
    assert_alike(results, f"{name} {fault}", names)
