"""Finite-difference checks of the regularization kernels (float64) and unit tests of the
optimizer, schedule and callback references: identities between the forms, validation
and error messages.  Framework agreement is in parity/test_optimizers.py and
parity/test_regularization.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernels import optim, schedules
from kernels.callbacks import EarlyStopping, ReduceLROnPlateau
from kernels.regularization import (batchnorm_backward, batchnorm_forward, l1_penalty_backward,
                                    l1_penalty_forward, l2_penalty_backward, l2_penalty_forward)
from mlsandbox.testing.gradcheck import FD_TOL, numeric_grad


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b)))


# ------------------------------------------------------------------ gradient checks


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 3, 4), (2, 1)])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_batchnorm_gradcheck(shape, train):
    rng = np.random.default_rng(0)
    d = shape[-1]
    x = rng.standard_normal(shape) * 1.5 + 0.3
    gamma, beta = rng.uniform(0.5, 1.5, d), rng.standard_normal(d)
    mean, var = rng.standard_normal(d) * 0.1, rng.uniform(0.5, 1.5, d)
    dy = rng.standard_normal(shape)

    def objective(x=x, gamma=gamma, beta=beta):
        y = batchnorm_forward(x, gamma, beta, mean, var, train=train, eps=1e-3)[0]
        return float(np.sum(y * dy))

    _, _, _, cache = batchnorm_forward(x, gamma, beta, mean, var, train=train, eps=1e-3)
    dx, dgamma, dbeta = batchnorm_backward(dy, cache)
    assert _rel(dx, numeric_grad(lambda v: objective(x=v), x)) < FD_TOL
    assert _rel(dgamma, numeric_grad(lambda v: objective(gamma=v), gamma)) < FD_TOL
    assert _rel(dbeta, numeric_grad(lambda v: objective(beta=v), beta)) < FD_TOL


def test_batchnorm_running_statistics():
    """One train step moves the running values toward the batch's (biased, or unbiased
    with n/(n-1)); eval mode leaves them alone."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3))
    m0, v0 = np.zeros(3), np.ones(3)
    _, m, v, _ = batchnorm_forward(x, 1.0, 0.0, m0, v0, train=True, momentum=0.9)
    np.testing.assert_allclose(m, 0.1 * x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(v, 0.9 + 0.1 * x.var(0), rtol=1e-14)
    _, _, vu, _ = batchnorm_forward(x, 1.0, 0.0, m0, v0, train=True, momentum=0.9,
                                    unbiased=True)
    np.testing.assert_allclose(vu, 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-14)
    _, me, ve, _ = batchnorm_forward(x, 1.0, 0.0, m0, v0, train=False)
    assert me is m0 and ve is v0
    with pytest.raises(ValueError, match="at least 2"):
        batchnorm_forward(x[:1], 1.0, 0.0, m0, v0, train=True, unbiased=True)


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_penalty_gradcheck(kind):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3))
    w[np.abs(w) < 1e-3] = 0.5  # |w| is not differentiable at 0
    fwd, bwd = {"l1": (l1_penalty_forward, l1_penalty_backward),
                "l2": (l2_penalty_forward, l2_penalty_backward)}[kind]
    _, cache = fwd(w, 0.07)
    assert _rel(bwd(1.0, cache), numeric_grad(lambda v: float(fwd(v, 0.07)[0]), w)) < FD_TOL


# ---------------------------------------------------------------- optimizer identities


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {"a": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    grads = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(30)]
    return params, grads


def _run(name, hyper, seed=0):
    params, grads = _problem(seed)
    h = optim.resolve(name, hyper)
    state = optim.init(name, params, h)
    for g in grads:
        params, state = optim.update(name, params, g, state, h)
    return params, state


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_forms_equal_at_constant_lr(nesterov):
    """v = μv - lr·g, p += v (Keras) is b = μb + g, p -= lr·b (torch) with v = -lr·b."""
    h = {"lr": 0.05, "momentum": 0.9, "nesterov": nesterov}
    pt, st = _run("sgd", {**h, "momentum_form": "torch"})
    pk, sk = _run("sgd", {**h, "momentum_form": "keras"})
    for k in pt:
        assert _rel(pk[k], pt[k]) < 1e-13
        assert _rel(sk[f"velocity/{k}"], -0.05 * st[f"momentum/{k}"]) < 1e-13


def test_momentum_forms_differ_when_lr_changes():
    h = {"lr": schedules.step_decay(0.05, 10, 0.1), "momentum": 0.9}
    pt, _ = _run("sgd", {**h, "momentum_form": "torch"})
    pk, _ = _run("sgd", {**h, "momentum_form": "keras"})
    assert max(_rel(pk[k], pt[k]) for k in pt) > 1e-3


def test_adam_epsilon_hat_is_a_time_varying_epsilon():
    """Keras's update is torch's with ε replaced by ε/√(1-β₂ᵗ): step by step."""
    params, grads = _problem()
    eps, b2 = 1e-3, 0.999
    h = optim.resolve("adam", {"lr": 0.01, "eps": eps, "eps_hat": True})
    state = optim.init("adam", params, h)
    for t, g in enumerate(grads, start=1):
        want, _ = optim.update("adam", params, g, state, {**h, "eps_hat": False,
                                                          "eps": eps / math.sqrt(1 - b2 ** t)})
        params, state = optim.update("adam", params, g, state, h)
        for k in params:
            assert _rel(params[k], want[k]) < 1e-13


def test_adamw_without_decay_is_adam():
    pa, sa = _run("adam", {"lr": 0.01})
    pw, sw = _run("adamw", {"lr": 0.01, "weight_decay": 0.0})
    for k in pa:
        np.testing.assert_array_equal(pa[k], pw[k])
    assert set(sa) == set(sw)


def test_rmsprop_eps_forms_meet_at_zero_eps():
    pi, _ = _run("rmsprop", {"lr": 0.01, "eps": 0.0, "eps_in_sqrt": True})
    po, _ = _run("rmsprop", {"lr": 0.01, "eps": 0.0, "eps_in_sqrt": False})
    for k in pi:
        assert _rel(pi[k], po[k]) < 1e-14


def test_update_does_not_modify_inputs():
    params, grads = _problem()
    before = {k: v.copy() for k, v in params.items()}
    h = optim.resolve("adam", {})
    state = optim.init("adam", params, h)
    optim.update("adam", params, grads[0], state, h)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    assert int(state["step"]) == 0


def test_state_names():
    p = {"w": np.zeros(2)}
    assert optim.state_names("sgd", p, {"momentum": 0.0}) == ["step"]
    assert optim.state_names("sgd", p, {"momentum": 0.9}) == ["step", "momentum/w"]
    assert optim.state_names("sgd", p, {"momentum": 0.9, "momentum_form": "keras"}) == [
        "step", "velocity/w"]
    assert optim.state_names("adamw", p, {}) == ["step", "adam/mu/w", "adam/nu/w"]
    assert optim.state_names("rmsprop", p, {}) == ["step", "rmsprop/nu/w"]


@pytest.mark.parametrize("name, hyper, match", [
    ("lbfgs", {}, "unknown optimizer"),
    ("sgd", {}, "needs lr"),
    ("sgd", {"lr": 0.1, "beta1": 0.9}, "not \\['beta1'\\]"),
    ("sgd", {"lr": 0.1, "nesterov": True}, "needs momentum"),
    ("sgd", {"lr": "fast"}, "lr must be"),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "momentum_form": "tf"}, "momentum_form"),
    ("adam", {"eps_hat": "yes"}, "eps_hat"),
])
def test_resolve_errors(name, hyper, match):
    with pytest.raises(ValueError, match=match):
        optim.resolve(name, hyper)


def test_check_state_errors():
    p = {"w": np.zeros(2)}
    h = optim.resolve("adam", {})
    good = optim.init("adam", p, h)
    with pytest.raises(ValueError, match="missing \\['adam/nu/w'\\]"):
        optim.check_state("adam", p, h, {k: v for k, v in good.items() if "nu" not in k})
    with pytest.raises(ValueError, match="shape"):
        optim.check_state("adam", p, h, {**good, "adam/mu/w": np.zeros(3)})
    with pytest.raises(ValueError, match="float32"):
        optim.check_state("adam", p, h, {**good, "adam/mu/w": np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match="non-negative integer"):
        optim.check_state("adam", p, h, {**good, "step": np.array(1.5)})
    assert int(optim.check_state("adam", p, h, {**good, "step": np.array([4])})["step"]) == 4


# ------------------------------------------------------------------------ schedules


def test_schedules_rules():
    s = schedules.step_decay(0.1, step_size=3, gamma=0.5)
    assert [s(t) for t in (0, 2, 3, 6)] == [0.1, 0.1, 0.05, 0.025]
    e = schedules.exponential(0.1, rate=0.5, decay_steps=4)
    assert math.isclose(e(2), 0.1 * math.sqrt(0.5), rel_tol=1e-15)
    es = schedules.exponential(0.1, rate=0.5, decay_steps=4, staircase=True)
    assert es(3) == 0.1 and es(4) == 0.05
    c = schedules.cosine(0.1, decay_steps=10, alpha=0.2)
    assert c(0) == 0.1 and math.isclose(c(10), 0.02, rel_tol=1e-15) and c(15) == c(10)
    assert math.isclose(c(5), 0.1 * (0.2 + 0.8 * 0.5), rel_tol=1e-15)
    assert c.values(3).dtype == np.float64 and schedules.lr_at(0.3, 7) == 0.3


@pytest.mark.parametrize("make, match", [
    (lambda: schedules.step_decay(0.1, 0), "step_size"),
    (lambda: schedules.exponential(0.1, -1.0), "rate"),
    (lambda: schedules.cosine(0.1, 10, alpha=2.0), "alpha"),
    (lambda: schedules.cosine(0.1, 2.5), "decay_steps"),
])
def test_schedule_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ------------------------------------------------------------------------ callbacks


def test_reduce_on_plateau_floor_and_cooldown():
    r = ReduceLROnPlateau(1.0, factor=0.5, patience=0, cooldown=1, min_lr=0.2)
    lrs = [r.update(1.0) for _ in range(8)]
    # patience 0: every bad epoch reduces, but each reduction is followed by 1 cooldown
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2]
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(0.1, factor=1.5)
    with pytest.raises(ValueError, match="threshold_mode"):
        ReduceLROnPlateau(0.1, threshold_mode="pct")


def test_early_stopping_restores_best():
    es = EarlyStopping(patience=2)
    values = [3.0, 2.0, 2.5, 2.1, 1.0]
    stops = [es.update(v, {"w": np.array([v])}) for v in values[:4]]
    assert stops == [False, False, False, True]
    assert es.best_epoch == 1 and es.best_params["w"][0] == 2.0 and es.stopped_epoch == 3
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)


@pytest.mark.parametrize("name, hyper", [
    ("sgd", {"lr": 0.1, "momentum": 0.9}), ("sgd", {"lr": 0.1, "momentum": 0.9,
                                                    "momentum_form": "keras"}),
    ("adam", {"eps_hat": True}), ("adam", {"weight_decay": 0.1}), ("adamw", {}),
    ("rmsprop", {"eps_in_sqrt": True}), ("rmsprop", {}),
])
def test_float32_stays_float32(name, hyper):
    """No float64 scalar sneaks into a float32 update (NumPy 2 promotes on np.float64)."""
    params = {"w": np.ones(3, np.float32)}
    h = optim.resolve(name, {**hyper, "lr": schedules.cosine(0.1, 10)})
    state = optim.init(name, params, h)
    p, s = optim.update(name, params, {"w": np.full(3, 0.5, np.float32)}, state, h)
    assert p["w"].dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in s.items() if k != "step")
