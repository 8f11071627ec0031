"""The conventions of ``LogRegSpec.conventions``, each shown by a test with its size."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

import models
from mlsandbox.classical import solvers
from mlsandbox.compare import assert_close, tolerance

C, N = 0.7, 40


@pytest.fixture(scope="module")
def case():
    spec = models.spec("logreg", n_in=6, n_classes=2, C=C)
    params = spec.init(seed=11, dtype="float64")
    batch = spec.example(n=N, seed=12, dtype="float64")
    loss, grads = models.get("logreg", "numpy", n_in=6, n_classes=2, C=C).loss_and_grads(
        params, batch)
    return spec, params, batch, loss, grads


@pytest.mark.keras
def test_keras_l2_regularizer_is_half_of_one_over_C_n(case):
    """Keras ``regularizers.L2(l2)`` adds l2·Σw²: our penalty is L2(1 / (2 C n)).

    Keras rounds the Python-float ``l2`` through float32 even in a float64 model (the
    trap the conventions name for hyperparameters): the loss then differs from ours by
    (l2 - float32(l2))·Σw², 3.6e-10 here; with that rounding applied both agree to 1e-10.
    """
    from models.frameworks import load_keras

    keras, _ = load_keras()
    spec, params, batch, want, _ = case
    for l2, factor in [(1 / (2 * C * N), 1.0), (1 / (C * N), 2.0)]:
        layer = keras.layers.Dense(1, dtype="float64",
                                   kernel_regularizer=keras.regularizers.L2(l2))
        layer.build((None, 6))
        layer.kernel.assign(params["dense.kernel"])
        layer.bias.assign(params["dense.bias"])
        z = layer(batch["x"])
        ce = keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64")(
            batch["y"][:, None].astype("float64"), z)
        got = float(ce + sum(layer.losses))
        sq = float(np.sum(params["dense.kernel"] ** 2))
        exact = want + (factor - 1) * 0.5 / (C * N) * sq
        rounded = exact + (float(np.float32(l2)) - l2) * sq
        assert_close(got, rounded, tolerance("float64"), f"Keras L2({l2:.4g})")
        assert 0 < abs(got - exact) < 1e-8       # the float32 rounding of l2, shown
    assert spec.l2_strength(N) == 1 / (2 * C * N)      # λ of λ‖W‖², Keras's L2(λ)


@pytest.mark.torch
def test_torch_weight_decay_is_one_over_C_n(case):
    """One torch SGD step with ``weight_decay=1/(C n)`` on the plain mean cross-entropy is
    one step on our penalized loss (the bias is decayed too unless excluded: it is here)."""
    from models.frameworks import load_torch

    torch = load_torch()
    spec, params, batch, _, grads = case
    lin = torch.nn.Linear(6, 1, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(params["dense.kernel"].T))
        lin.bias.copy_(torch.from_numpy(params["dense.bias"]))
    opt = torch.optim.SGD([{"params": [lin.weight], "weight_decay": 2 * spec.l2_strength(N)},
                           {"params": [lin.bias], "weight_decay": 0.0}], lr=0.5)
    x, y = torch.from_numpy(batch["x"]), torch.from_numpy(batch["y"].astype("float64"))
    torch.nn.functional.binary_cross_entropy_with_logits(lin(x)[:, 0], y).backward()
    opt.step()
    assert_close(lin.weight.detach().numpy().T, params["dense.kernel"] - 0.5 * grads[
        "dense.kernel"], tolerance("float64"), "torch weight_decay step")
    assert_close(lin.bias.detach().numpy(), params["dense.bias"] - 0.5 * grads["dense.bias"],
                 tolerance("float64"), "torch bias step")


@pytest.mark.parametrize("C_value", [1.0, 100.0])
def test_sklearn_lbfgs_stops_short_of_the_optimum(C_value):
    """scikit-learn's lbfgs at tol=1e-12 ends 1e-6 (C=1) to 8e-5 (C=100) from the optimum
    that its newton-cholesky solver and ours agree on to 1e-10."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ours = solvers.fit("numpy", X, y, 1, C=C_value)[0]
    nc = SkLogisticRegression(C=C_value, solver="newton-cholesky", tol=1e-12).fit(X, y)
    lb = SkLogisticRegression(C=C_value, tol=1e-12, max_iter=100_000).fit(X, y)
    assert np.max(np.abs(nc.coef_ - ours)) < 1e-9
    gap = np.max(np.abs(lb.coef_ - ours))
    assert 1e-7 < gap < 1e-3, gap
