"""Non-finite inputs: the reference propagates NaN as the frameworks do.

A NaN or inf in one input value makes the forward output and the loss non-finite in the
NumPy reference exactly where it does in torch (and in JAX and Keras, but for the
max-pooling networks, whose XLA and TensorFlow pools skip NaN: the convention "NaN in a
max-pool window").  The gradient through a NaN ReLU input is a second convention: 0 in
NumPy and JAX, NaN in torch and Keras.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import models
from mlsandbox.testing.cases import NETWORK_CASES, PEERS


@functools.lru_cache(maxsize=None)
def net(name, backend):
    return models.get(name, backend, **NETWORK_CASES[name]["config"])


def poisoned(name, value, where=5):
    """Params and a batch of 3 with one non-finite value that only the first example
    reads: one of its input values, or, for token ids, one entry of the embedding row of
    a token only it holds (a NaN weight)."""
    spec = net(name, "numpy").spec
    params = spec.init(seed=1, dtype="float64")
    batch = spec.example(n=3, seed=2, dtype="float64")
    key = next(iter(spec.inputs()))              # "x", or the token ids
    x = batch[key].copy()
    if spec.inputs()[key][1] == "float":
        x.reshape(3, -1)[0, where] = value       # one value of the first example
    else:
        table = next(iter(params))               # the embedding table comes first
        x[0, 0] = spec.input_range(key)[1] - 1   # a token no other example holds
        x[1:][x[1:] == x[0, 0]] = 2
        params = {**params, table: params[table].copy()}
        params[table][x[0, 0], 0] = value
        params = spec.tie(params)                # a tied decoder holds the NaN too
    return params, {**batch, key: x}


def reads_table_everywhere(name) -> bool:
    """Whether the embedding table is also an output layer (a tied decoder): then its
    poisoned row reaches every example's logits, not only the first."""
    spec = net(name, "numpy").spec
    return next(iter(spec.param_shapes())) in spec.tied().values()


def pools(name) -> bool:
    return any(c.topic == "NaN in a max-pool window" for c in net(name, "numpy").spec.conventions)


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("backend", [pytest.param(b, marks=getattr(pytest.mark, b)) for b in PEERS])
@pytest.mark.parametrize("name", list(NETWORK_CASES))
def test_nonfinite_input_propagates_like_the_frameworks(name, backend, value):
    if backend not in models.available(name):
        pytest.skip(f"{name} has no {backend} implementation yet")
    params, batch = poisoned(name, value)
    want = net(name, "numpy").forward(params, batch)
    got = net(name, backend).forward(params, batch)
    assert not np.isfinite(want[0]).all()          # the poisoned example
    if reads_table_everywhere(name):               # the tied decoder's row: every example
        assert np.array_equal(np.isfinite(got), np.isfinite(want))
        fin = np.isfinite(want)
        np.testing.assert_allclose(got[fin], want[fin], rtol=1e-10, atol=1e-10)
        return
    assert not np.isfinite(want[0]).any()
    assert np.isfinite(want[1:]).all()             # the others are untouched
    loss = net(name, "numpy").loss_and_grads(params, batch)[0]
    assert np.isnan(loss) or np.isinf(loss)
    if backend in ("jax", "keras") and pools(name):
        pytest.skip("XLA's and TensorFlow's max-pool skip NaN: "
                    "test_convention_max_pool_skips_nan")
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    np.testing.assert_allclose(got[1:], want[1:], rtol=1e-10, atol=1e-10)
    assert not np.isfinite(net(name, backend).loss_and_grads(params, batch)[0])


@pytest.mark.parametrize("name", [n for n in NETWORK_CASES if n in ("tinyvgg", "cnn")])
def test_convention_max_pool_skips_nan(name):
    params, batch = poisoned(name, np.nan)
    out = {b: net(name, b).forward(params, batch) for b in models.BACKENDS}
    assert np.isnan(out["numpy"][0]).all() and np.isnan(out["torch"][0]).all()
    assert np.isfinite(out["jax"]).all() and np.isfinite(out["keras"]).all()
    np.testing.assert_allclose(out["jax"], out["keras"], rtol=1e-10, atol=1e-10)


def test_convention_relu_grad_at_nan():
    params, batch = poisoned("mlp", np.nan)
    finite = {b: {k: int(np.isfinite(g).sum()) for k, g in
                  net("mlp", b).loss_and_grads(params, batch)[1].items()}
              for b in models.BACKENDS}
    w = params["dense1.kernel"]
    assert finite["numpy"] == finite["jax"]
    assert finite["numpy"]["dense1.kernel"] == w.size - w.shape[1]   # the NaN input's row
    assert finite["torch"]["dense1.kernel"] == finite["keras"]["dense1.kernel"] == 0
