"""One training path: every way of training a network is the same step.

* ``engine.fit`` equals ``net.train`` on the same batches within 1e-10 in float64, for
  every registered network and backend (densenet with L2 and batch norm and dropout,
  logistic regression binary and multinomial, the convnet in train mode with the masks
  drawn from the run's seed);
* the parity table covers every ``models.NETWORKS`` x ``models.BACKENDS`` pair, so a
  newly registered network gets its parity cases or a failing test;
* the same seed gives the same bytes, and a run resumed from its checkpointed state
  equals the uninterrupted run (dropout included) in every backend.
"""

from __future__ import annotations

import numpy as np
import pytest

import models
from mlsandbox import engine
from mlsandbox.compare import assert_close, tolerance
from mlsandbox.testing.cases import MISSING_CASES, NETWORK_CASES, network_backend_dtype

TOL = tolerance("float64")

#: network -> config for these runs (dropout on where the network has it)
CONFIGS = {name: dict(case["config"]) for name, case in NETWORK_CASES.items()}
CONFIGS["densenet"] = {"n_in": 12, "n_hidden": 8, "batchnorm": True, "l2": 3e-3,
                       "dropout_rate": 0.25}
CONFIGS["mlp"] = {"n_in": 12, "n_hidden": 6}
EXTRA = {"logreg-multinomial": ("logreg", {"n_in": 5, "n_classes": 3, "C": 2.0})}
CASES = {**{n: (n, CONFIGS[n]) for n in NETWORK_CASES}, **EXTRA}


def _data(spec, n=21, seed=3):
    b = spec.example(n=n, seed=seed, dtype="float64")
    return {k: v for k, v in b.items() if k != "masks"}


def _batches(data, batch_size, seed, epochs):
    n = len(data["y"])
    return [{k: v[idx] for k, v in data.items()}
            for e in range(epochs) for idx in engine.loop.epoch_batches(n, batch_size, seed, e)]


def test_parity_table_covers_every_network_and_backend():
    assert not MISSING_CASES, f"{MISSING_CASES}: a registered network's spec needs a " \
        "`parity` case"
    assert set(NETWORK_CASES) == set(models.NETWORKS)
    cells = {tuple(p.values[:2]) for p in network_backend_dtype(backends=models.BACKENDS)}
    assert cells == {(n, b) for n in models.NETWORKS for b in models.BACKENDS}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", [pytest.param(b, marks=getattr(pytest.mark, b))
                                     for b in models.BACKENDS])
def test_engine_fit_equals_net_train(case, backend):
    name, config = CASES[case]
    if backend not in models.available(name):
        pytest.skip(f"{name} has no {backend} implementation yet")
    net = models.get(name, backend, **config)
    data = _data(net.spec)
    seed, kw = 5, {"lr": 0.05, "momentum": 0.9}
    if backend == "keras":
        kw["momentum_form"] = "keras"
    run = engine.fit(net, train=data, epochs=2, batch_size=8, optimizer="sgd",
                     dtype="float64", seed=seed, progress=False, **kw)
    params = net.spec.init(seed=seed, dtype="float64")
    want_params, want_losses, want_state = net.train(
        params, _batches(data, 8, seed, 2), "sgd", seed=seed, return_opt_state=True, **kw)
    assert_close(np.array(run.step_losses), want_losses, TOL, f"{case}/{backend} losses")
    assert_close(run.params, want_params, TOL, f"{case}/{backend} params")
    assert_close(run.opt_state, want_state, TOL, f"{case}/{backend} optimizer state")


@pytest.mark.parametrize("backend", [pytest.param(b, marks=getattr(pytest.mark, b))
                                     for b in models.BACKENDS])
@pytest.mark.parametrize("name", ["densenet", "cnn"])
def test_same_seed_same_bytes_and_resume_equals_uninterrupted(name, backend):
    """Dropout masks drawn from (seed, step): two runs with one seed are bit-identical,
    another seed differs, and 3 + 3 steps through a canonical state equal 6 steps."""
    net = models.get(name, backend, **CASES[name][1])
    data = _data(net.spec, n=12)
    batches = _batches(data, 6, 0, 3)
    params = net.spec.init(seed=1, dtype="float64")
    a = net.train(params, batches, "adam", seed=7, return_opt_state=True)
    b = net.train(params, batches, "adam", seed=7, return_opt_state=True)
    c = net.train(params, batches, "adam", seed=8)
    assert np.array_equal(a[1], b[1])
    assert all(np.array_equal(a[0][k], b[0][k]) for k in a[0])
    assert not np.array_equal(a[1], c[1])
    p3, l3, s3 = net.train(params, batches[:3], "adam", seed=7, return_opt_state=True)
    p6, l6 = net.train(p3, batches[3:], "adam", seed=7, opt_state=s3)
    assert_close(np.concatenate([l3, l6]), a[1], TOL, "losses of the resumed run")
    assert_close(p6, a[0], TOL, "params of the resumed run")
