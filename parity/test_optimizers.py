"""Training trajectories: optimizer x schedule x network x framework, float64.

100 steps from the same init over the same real batches (sklearn's digits, 32 a batch),
for every optimizer x schedule on the MLP and on the MNIST convnet (digits as 16x16
images, injected dropout masks), and for SGD, momentum and Adam on the dense net:
the loss of every step, the final parameters (batch norm running statistics included)
and the final canonical optimizer state agree with the NumPy reference within
``TRAJECTORY["optimizer"]`` (1e-9).  Each framework is compared with the reference
computing the rule that framework computes (``FORMS``: Keras's momentum form, Adam's
epsilon-hat, RMSprop's eps inside the square root); ``test_convention_*`` show the size
of each of those differences, and of the float32 constants Keras and optax fall back to.

Also here: resuming from a canonical optimizer state in another framework (torch ->
JAX, torch -> Keras, through a safetensors checkpoint) equals an uninterrupted run.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import models
from kernels import optim, schedules
from kernels.callbacks import EarlyStopping, ReduceLROnPlateau
from mlsandbox.compare import TRAJECTORY, assert_close, rel_err
from mlsandbox.testing.cases import PEERS
from mlsandbox.testing.trajectories import NETS, STEPS, batches, net

TOL = TRAJECTORY["optimizer"]

#: one BLAS and one torch thread for the whole module (the fixture is in parity/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")

#: the learning-rate schedules, over the ``STEPS`` steps of a run
SCHEDULES = {
    "constant": lambda lr: lr,
    "step": lambda lr: schedules.step_decay(lr, step_size=25, gamma=0.5),
    "exp": lambda lr: schedules.exponential(lr, rate=0.5, decay_steps=50),
    "cosine": lambda lr: schedules.cosine(lr, decay_steps=STEPS, alpha=0.1),
}

#: case -> (optimizer, hyper without lr, lr, schedules to run)
OPTIMIZERS = {
    "sgd": ("sgd", {}, 0.1, tuple(SCHEDULES)),
    "momentum": ("sgd", {"momentum": 0.9}, 0.05, tuple(SCHEDULES)),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}, 0.05, ("constant", "cosine")),
    "adam": ("adam", {}, 3e-3, tuple(SCHEDULES)),
    "adam_l2": ("adam", {"weight_decay": 1e-2}, 3e-3, ("constant",)),
    "adamw": ("adamw", {"weight_decay": 1e-2}, 3e-3, ("constant", "cosine")),
    "rmsprop": ("rmsprop", {"rho": 0.9}, 1e-3, ("constant", "step")),
}

def own_forms(backend: str) -> dict:
    """The form each framework computes, made explicit: the first entry of its adapter's
    declared table (``Network.FORMS``) for every form hyperparameter an optimizer takes."""
    table = type(models.get("mlp", backend)).FORMS
    return {opt: {k: table[k][0] for k in table if k in optim.OPTIMIZERS[opt]}
            for opt in optim.OPTIMIZERS}


FORMS = {b: own_forms(b) for b in PEERS}

#: what a framework cannot compute at all (shown by test_unsupported_forms_raise)
UNSUPPORTED = {("keras", "adam_l2"): "coupled"}


def hyper_for(case, sched, backend):
    opt, extra, lr, _ = OPTIMIZERS[case]
    return opt, {**extra, **FORMS.get(backend, {}).get(opt, {}), "lr": SCHEDULES[sched](lr)}


@functools.lru_cache(maxsize=None)
def reference(net_name, opt, hyper_items, variant="numpy"):
    params = net(net_name, "numpy").spec.init(seed=3, dtype="float64")
    return net(net_name, variant).train(params, batches(net_name), opt,
                                        return_opt_state=True, **dict(hyper_items))


def run(net_name, backend, opt, hyper, **kw):
    params = net(net_name, "numpy").spec.init(seed=3, dtype="float64")
    return net(net_name, backend).train(params, batches(net_name), opt,
                                        return_opt_state=True, **hyper, **kw)


def _cases():
    out = []
    for net_name in NETS:
        for case, (_, _, _, scheds) in OPTIMIZERS.items():
            if net_name == "densenet":  # the study's optimizers, constant lr
                if case not in ("sgd", "momentum", "adam"):
                    continue
                scheds = ("constant",)
            for sched in scheds:
                for backend in PEERS:
                    if (backend, case) in UNSUPPORTED:
                        continue
                    out.append(pytest.param(net_name, case, sched, backend,
                                            id=f"{net_name}-{case}-{sched}-{backend}",
                                            marks=getattr(pytest.mark, backend)))
    return out


@pytest.mark.parametrize("net_name, case, sched, backend", _cases())
def test_trajectory(net_name, case, sched, backend):
    opt, hyper = hyper_for(case, sched, backend)
    variant = "numpy-torch" if backend == "torch" and net_name == "densenet" else "numpy"
    want_p, want_l, want_s = reference(net_name, opt, tuple(sorted(hyper.items())), variant)
    got_p, got_l, got_s = run(net_name, backend, opt, hyper)
    assert got_l.shape == (STEPS,)
    what = f"{net_name}/{case}/{sched}/{backend}"
    assert_close(got_l, want_l, TOL, f"{what} losses (every step)")
    assert_close(got_p, want_p, TOL, f"{what} final params")
    assert_close(got_s, want_s, TOL, f"{what} final optimizer state")


@pytest.mark.parametrize("backend, case, hyper, match", [
    ("keras", "adam", {"weight_decay": 1e-2}, "decoupled"),
    ("keras", "adam", {"eps_hat": False}, "epsilon hat"),
    ("keras", "rmsprop", {"eps_in_sqrt": False}, "inside the square root"),
    ("torch", "adam", {"eps_hat": True}, "eps_hat"),
    ("torch", "rmsprop", {"eps_in_sqrt": True}, "eps_in_sqrt"),
    ("torch", "sgd", {"momentum": 0.9, "momentum_form": "keras"}, "torch momentum form"),
    ("jax", "adam", {"eps_hat": True}, "eps_hat"),
])
def test_unsupported_forms_raise(backend, case, hyper, match):
    """A rule a framework cannot compute is refused with the reason, never run silently."""
    opt = OPTIMIZERS[case][0]
    with pytest.raises(ValueError, match=match):
        run("mlp", backend, opt, {"lr": 1e-3, **hyper})


def test_keras_torch_momentum_form_refused_under_schedule():
    with pytest.raises(ValueError, match="momentum_form"):
        run("mlp", "keras", "sgd", {"lr": SCHEDULES["step"](0.05), "momentum": 0.9,
                                    "momentum_form": "torch"})


# --------------------------------------------------------------- resume across frameworks


@pytest.mark.parametrize("opt, hyper, last", [
    ("adam", {"lr": 3e-3}, "jax"),
    ("sgd", {"lr": 0.05, "momentum": 0.9}, "jax"),
    ("sgd", {"lr": 0.05, "momentum": 0.9}, "keras"),
])
def test_resume_in_another_framework(opt, hyper, last, tmp_path):
    """Two segments in torch, a checkpoint (safetensors, params + opt state), the rest in
    ``last``: equal to one uninterrupted run, parameters at every boundary included."""
    from models import load_checkpoint, save_checkpoint

    spec = net("mlp", "numpy").spec
    params = spec.init(seed=3, dtype="float64")
    data = batches("mlp")
    want_p, want_l, want_s = net("mlp", "torch").train(params, data, opt,
                                                       return_opt_state=True, **hyper)
    p, state, losses = params, None, []
    for lo, hi in ((0, 30), (30, 60)):
        p, l, state = net("mlp", "torch").train(p, data[lo:hi], opt, opt_state=state,
                                                return_opt_state=True, **hyper)
        mid_p = net("mlp", "numpy").train(params, data[:hi], opt, **hyper)[0]
        assert_close(p, mid_p, TOL, f"torch params after step {hi}")
        losses.append(l)
    path = save_checkpoint(tmp_path / "ckpt.safetensors", p, spec=spec, opt_state=state,
                           meta={"step": 60})
    p, state, _ = load_checkpoint(path, spec)
    assert int(np.asarray(state["step"]).reshape(())) == 60
    p, l, state = net("mlp", last).train(p, data[60:], opt, opt_state=state,
                                         return_opt_state=True, **hyper)
    losses.append(l)
    assert_close(np.concatenate(losses), want_l, TOL, f"torch->{last} losses")
    assert_close(p, want_p, TOL, f"torch->{last} final params")
    assert_close(state, want_s, TOL, f"torch->{last} final optimizer state")


def test_opt_state_errors():
    spec = net("mlp", "numpy").spec
    params = spec.init(seed=3, dtype="float64")
    data = batches("mlp")[:2]
    with pytest.raises(ValueError, match="missing"):
        net("mlp", "numpy").train(params, data, "adam", opt_state={"step": 0})
    bad = {k: v for k, v in net("mlp", "numpy").train(
        params, data, "sgd", lr=0.1, momentum=0.9, return_opt_state=True)[2].items()}
    bad["momentum/dense1.kernel"] = bad["momentum/dense1.kernel"][:1]
    with pytest.raises(ValueError, match="shape"):
        net("mlp", "torch").train(params, data, "sgd", lr=0.1, momentum=0.9, opt_state=bad)


# ------------------------------------------------------------ schedules, step by step


@pytest.mark.parametrize("sched", ["step", "exp", "cosine"])
def test_schedule_values(sched):
    """The learning rate of every step in each framework's scheduler equals the reference
    (float64), read from the frameworks themselves."""
    import torch

    s = SCHEDULES[sched](0.1)
    want = s.values(STEPS)
    jx = net("mlp", "jax")
    got_jax = np.array([jx.schedule(s)(np.int32(t)) for t in range(STEPS)], dtype=np.float64)
    assert_close(got_jax, want, 1e-15, f"optax {sched}")
    opt = torch.optim.SGD([torch.zeros(1, dtype=torch.float64)], lr=s.lr0)
    sch = net("mlp", "torch").scheduler(s, opt)
    got_torch = []
    for _ in range(STEPS):
        got_torch.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    assert_close(np.array(got_torch), want, 1e-14, f"torch {sched}")
    ks = net("mlp", "keras").learning_rate(s, "float64")
    got_keras = np.array([float(ks(t)) for t in range(STEPS)])
    assert_close(got_keras, want, 1e-15, f"keras {sched}")


# --------------------------------------------------- reduce-on-plateau, early stopping


@functools.lru_cache(maxsize=None)
def plateau_losses():
    """Per-epoch losses of a real run that plateaus: the digits MLP, plain SGD at a rate
    small enough to stall, 60 'epochs' of 5 steps (the reference's losses, averaged)."""
    spec = net("mlp", "numpy").spec
    p = spec.init(seed=3, dtype="float64")
    _, losses = net("mlp", "numpy").train(p, batches("mlp"), "sgd", lr=0.4)
    return tuple(np.round(losses.reshape(20, 5).mean(axis=1), 2).tolist()) * 3


@pytest.mark.parametrize("mode", ["rel", "abs"])
@pytest.mark.parametrize("cooldown", [0, 2])
def test_reduce_on_plateau_torch(mode, cooldown):
    import torch

    values = plateau_losses()
    ref = ReduceLROnPlateau(0.1, factor=0.5, patience=2, threshold=1e-2, threshold_mode=mode,
                            cooldown=cooldown, min_lr=1e-3)
    opt = torch.optim.SGD([torch.zeros(1)], lr=0.1)
    sch = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=2, threshold=1e-2, threshold_mode=mode, cooldown=cooldown,
        min_lr=1e-3)
    want, got = [], []
    for v in values:
        sch.step(v)
        want.append(opt.param_groups[0]["lr"])
        got.append(ref.update(v))
    assert got == want
    assert len(set(got)) > 2  # the run really reduced, more than once


@pytest.mark.parametrize("mode", ["rel", "abs"])
@pytest.mark.parametrize("cooldown", [0, 2])
def test_reduce_on_plateau_optax(mode, cooldown):
    """``optax.contrib.reduce_on_plateau`` scales the updates; like Keras it reduces after
    ``patience`` bad epochs, so optax patience 3 is the reference's (torch's) patience 2."""
    from models.frameworks import load_flax

    jax, jnp, _, optax = load_flax()
    values = plateau_losses()
    rtol, atol = (1e-2, 0.0) if mode == "rel" else (0.0, 1e-2)
    tx = optax.contrib.reduce_on_plateau(factor=0.5, patience=3, rtol=rtol, atol=atol,
                                         cooldown=cooldown, min_scale=1e-2)
    p = {"w": jnp.zeros(1, jnp.float64)}
    state = tx.init(p)
    ref = ReduceLROnPlateau(0.1, factor=0.5, patience=2, threshold=1e-2, threshold_mode=mode,
                            cooldown=cooldown, min_lr=1e-3)
    update = jax.jit(lambda s, v: tx.update(p, s, p, value=v)[1])  # eager lax.cond: slow
    got, want = [], []
    for v in values:
        state = update(state, jnp.asarray(v, jnp.float64))
        got.append(0.1 * float(state.scale))
        want.append(ref.update(v))
    assert_close(np.array(got), np.array(want), 1e-12, f"optax reduce_on_plateau {mode}")
    assert len(set(want)) > 2


def _keras_callback_run(callback, values, weights=None):
    """Drive a Keras callback by hand, as ``fit`` would: one ``on_epoch_end`` per value."""
    from models.frameworks import load_keras

    keras, _ = load_keras()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    callback.set_model(model)
    callback.on_train_begin()
    lrs, stopped = [], None
    for epoch, v in enumerate(values):
        if weights is not None:
            model.set_weights(weights[epoch])
        callback.on_epoch_end(epoch, {"loss": v})
        lrs.append(float(model.optimizer.learning_rate.numpy()))
        if model.stop_training:
            stopped = epoch
            break
    callback.on_train_end()
    return model, lrs, stopped


def test_reduce_on_plateau_keras_patience_is_one_more():
    """Keras reduces after ``patience`` bad epochs, torch (and the reference) after
    ``patience + 1``: Keras patience 3 with absolute min_delta = reference patience 2."""
    from models.frameworks import load_keras

    keras, _ = load_keras()
    values = plateau_losses()
    cb = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=3,
                                           min_delta=1e-2, min_lr=1e-3, verbose=0)
    _, want, _ = _keras_callback_run(cb, values)
    ref = ReduceLROnPlateau(0.1, factor=0.5, patience=2, threshold=1e-2,
                            threshold_mode="abs", min_lr=1e-3)
    got = [ref.update(v) for v in values]
    assert_close(np.array(got), np.array(want), 1e-7, "keras ReduceLROnPlateau lr")
    same_p = ReduceLROnPlateau(0.1, factor=0.5, patience=3, threshold=1e-2,
                               threshold_mode="abs", min_lr=1e-3)
    differ = [same_p.update(v) for v in values]
    assert differ != got  # the same number means something else in the two frameworks


@pytest.mark.parametrize("patience, min_delta", [(2, 0.0), (3, 1e-2)])
def test_early_stopping_keras(patience, min_delta):
    """Stopping epoch and restored best weights equal Keras's EarlyStopping."""
    from models.frameworks import load_keras

    keras, _ = load_keras()
    values = plateau_losses()
    rng = np.random.default_rng(0)
    weights = [[rng.standard_normal((2, 1)).astype("float32"),
                rng.standard_normal(1).astype("float32")] for _ in values]
    cb = keras.callbacks.EarlyStopping(monitor="loss", patience=patience,
                                       min_delta=min_delta, restore_best_weights=True)
    model, _, stopped = _keras_callback_run(cb, values, weights)
    ref = EarlyStopping(patience=patience, min_delta=min_delta)
    ours = None
    for epoch, v in enumerate(values):
        if ref.update(v, {"w": weights[epoch][0], "b": weights[epoch][1]}):
            ours = epoch
            break
    assert stopped is not None and ours == stopped
    restored = model.get_weights()
    np.testing.assert_array_equal(restored[0], ref.best_params["w"])
    np.testing.assert_array_equal(restored[1], ref.best_params["b"])


# -------------------------------------------------------- conventions, with their sizes


def _diff(a, b):
    return max(max(rel_err(a[0][k], b[0][k]) for k in a[0]), rel_err(a[1], b[1]))


def measured(record_property, name, value):
    record_property(name, value)
    print(f"{name}: {value:.3g}")
    return value


def test_convention_keras_adam_epsilon_hat(record_property):
    """Keras Adam (epsilon hat) against torch's Adam, same eps = 1e-7, lr 1e-3."""
    h = {"lr": 1e-3, "eps": 1e-7}
    keras_run = run("mlp", "keras", "adam", h)
    torch_run = run("mlp", "torch", "adam", h)
    size = measured(record_property, "keras_vs_torch_adam_100_steps", _diff(keras_run, torch_run))
    assert size > 100 * TOL
    assert _diff(keras_run, reference("mlp", "adam", tuple(sorted(
        {**h, "eps_hat": True}.items())))) <= TOL


def test_convention_keras_momentum_under_schedule(record_property):
    """Keras SGD momentum under a step decay (lr halves every 25 steps) against torch."""
    h = {"lr": SCHEDULES["step"](0.05), "momentum": 0.9}
    keras_run = run("mlp", "keras", "sgd", h)
    torch_run = run("mlp", "torch", "sgd", h)
    size = measured(record_property, "keras_vs_torch_momentum_step_decay", _diff(keras_run,
                                                                              torch_run))
    assert size > 100 * TOL
    const = {"lr": 0.05, "momentum": 0.9}
    assert _diff(run("mlp", "keras", "sgd", const), run("mlp", "torch", "sgd", const)) <= TOL


def test_convention_coupled_weight_decay(record_property):
    """torch Adam(weight_decay=λ) (L2 added to the gradient) against AdamW(λ)."""
    a = run("mlp", "torch", "adam", {"lr": 3e-3, "weight_decay": 1e-2})
    w = run("mlp", "torch", "adamw", {"lr": 3e-3, "weight_decay": 1e-2})
    assert measured(record_property, "adam_l2_vs_adamw", _diff(a, w)) > 100 * TOL


def test_convention_rmsprop_eps_placement(record_property):
    """RMSprop with ε inside (Keras, optax default) or outside (torch) the square root."""
    h = {"lr": 1e-3, "rho": 0.9, "eps": 1e-7}
    inside = run("mlp", "keras", "rmsprop", h)
    outside = run("mlp", "torch", "rmsprop", h)
    assert measured(record_property, "rmsprop_eps_inside_vs_outside",
                    _diff(inside, outside)) > 100 * TOL
    native = run("mlp", "jax", "rmsprop", h)  # optax's default: inside, like Keras
    assert _diff(native, inside) <= TOL


def test_convention_keras_float32_hyperparameters(record_property, monkeypatch):
    """Keras with its own float32 learning rate and Python-float hyperparameters
    (``exact_lr = False``) against the exact float64 run."""
    k = net("mlp", "keras")
    h = {"lr": SCHEDULES["cosine"](3e-3), "eps_hat": True}
    exact = run("mlp", "keras", "adam", h)
    monkeypatch.setattr(k, "exact_lr", False)
    loose = run("mlp", "keras", "adam", h)
    assert measured(record_property, "keras_float32_constants_adam_cosine",
                    _diff(loose, exact)) > 10 * TOL


def test_convention_optax_exponential_decay_float32(record_property, monkeypatch):
    """optax.exponential_decay with an integer transition_steps evaluates in float32."""
    h = {"lr": SCHEDULES["exp"](3e-3)}
    exact = run("mlp", "jax", "adam", h)
    j = models.get("mlp", "jax", **NETS["mlp"])  # a fresh one: jitted runs are cached
    j.exact_schedules = False
    params = net("mlp", "numpy").spec.init(seed=3, dtype="float64")
    loose = j.train(params, batches("mlp"), "adam", **h)
    assert measured(record_property, "optax_exponential_decay_int_steps",
                    _diff(loose, exact)) > TOL


def test_convention_torch_cosine_after_decay_steps(record_property):
    """torch's CosineAnnealingLR climbs back after T_max; optax and Keras stay at the
    floor (the reference's rule)."""
    import torch

    s = schedules.cosine(0.1, decay_steps=20, alpha=0.0)
    opt = torch.optim.SGD([torch.zeros(1, dtype=torch.float64)], lr=s.lr0)
    sch = net("mlp", "torch").scheduler(s, opt)
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    lrs = np.array(lrs)
    assert_close(lrs[:21], s.values(21), 1e-14, "torch cosine up to T_max")
    gap = measured(record_property, "torch_cosine_after_tmax", float(np.max(np.abs(
        lrs[21:] - s.values(40)[21:]))))
    assert gap > 0.05
