"""Regularization layers against the NumPy reference (kernels/regularization.py), in train
and eval mode, float64 (1e-10) and float32 (1e-5, gradients 1e-4):

* batch normalization: output, dx, dγ, dβ and the running-statistics update, against
  ``torch.nn.functional.batch_norm``, ``keras.layers.BatchNormalization`` and
  ``nnx.BatchNorm``, with random γ, β and running statistics; 2-D and NHWC inputs;
* dropout with an injected mask, through each adapter's ``Dropout`` layer;
* L1/L2 penalties and their gradients against torch autograd, Keras regularizers and
  ``jax.grad``;
* the dense net (batch norm, dropout, L2) in train mode: logits, loss and gradients with
  injected masks (eval mode is in test_networks.py; 100-step trajectories with running
  statistics in test_optimizers.py);
* the conventions, with their sizes: torch's unbiased running variance, Flax's fast
  variance, Keras's float32 constants.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import models
from kernels.regularization import (batchnorm_backward, batchnorm_forward, dropout_backward,
                                    dropout_forward, l1_penalty_backward, l1_penalty_forward,
                                    l2_penalty_backward, l2_penalty_forward)
from mlsandbox.compare import assert_close, rel_err, tolerance
from mlsandbox.testing.cases import DTYPES, PEERS

#: one BLAS and one torch thread for the whole module (the fixture is in parity/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")

MOMENTUM, EPS = 0.9, 1e-3
SHAPES = {"n7": (7, 5), "n32": (32, 128), "nhwc": (3, 4, 4, 6)}


def bn_case(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    d = shape[-1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, d).astype(dtype)
    beta = rng.standard_normal(d).astype(dtype)
    mean = (0.1 * rng.standard_normal(d)).astype(dtype)
    var = rng.uniform(0.5, 1.5, d).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, mean, var, dy


def bn_reference(shape, dtype, train, unbiased=False):
    x, gamma, beta, mean, var, dy = bn_case(shape, dtype)
    y, m, v, cache = batchnorm_forward(x, gamma, beta, mean, var, train=train,
                                       momentum=MOMENTUM, eps=EPS, unbiased=unbiased)
    dx, dg, db = batchnorm_backward(dy, cache)
    return {"y": y, "moving_mean": m, "moving_var": v, "dx": dx, "dgamma": dg, "dbeta": db}


def bn_torch(shape, dtype, train):
    import torch

    x, gamma, beta, mean, var, dy = (torch.tensor(a) for a in bn_case(shape, dtype))
    x.requires_grad_(True)
    gamma.requires_grad_(True)
    beta.requires_grad_(True)
    perm = (0, x.ndim - 1, *range(1, x.ndim - 1))  # channels-last -> torch's channels-first
    xt = x.permute(*perm)
    y = torch.nn.functional.batch_norm(xt, mean, var, gamma, beta, training=train,
                                       momentum=1 - MOMENTUM, eps=EPS)
    y = y.permute(*np.argsort(perm))
    y.backward(dy)
    return {"y": y.detach().numpy(), "moving_mean": mean.numpy(), "moving_var": var.numpy(),
            "dx": x.grad.numpy(), "dgamma": gamma.grad.numpy(), "dbeta": beta.grad.numpy()}


def bn_keras(shape, dtype, train):
    from models.frameworks import load_keras

    keras, tf = load_keras()
    x, gamma, beta, mean, var, dy = bn_case(shape, dtype)
    layer = keras.layers.BatchNormalization(momentum=MOMENTUM, epsilon=EPS, dtype=dtype)
    layer.build(x.shape)
    for w, a in zip((layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance),
                    (gamma, beta, mean, var)):
        w.assign(a)
    layer.momentum = np.float64(MOMENTUM)  # the adapter's exact_constants
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=train)
        obj = tf.reduce_sum(y * dy)
    dx, dg, db = tape.gradient(obj, [xt, layer.gamma, layer.beta])
    return {"y": y.numpy(), "moving_mean": layer.moving_mean.numpy(),
            "moving_var": layer.moving_variance.numpy(), "dx": dx.numpy(),
            "dgamma": dg.numpy(), "dbeta": db.numpy()}


def bn_flax(shape, dtype, train, fast_variance=False):
    from models.frameworks import load_flax

    jax, jnp, nnx, _ = load_flax()
    x, gamma, beta, mean, var, dy = bn_case(shape, dtype)
    layer = nnx.BatchNorm(shape[-1], momentum=MOMENTUM, epsilon=EPS, dtype=dtype,
                          param_dtype=dtype, use_fast_variance=fast_variance,
                          rngs=nnx.Rngs(0))
    layer.scale[...], layer.bias[...] = jnp.asarray(gamma), jnp.asarray(beta)
    # nnx creates mean/var in float32 whatever param_dtype is: replace, not assign into
    layer.mean, layer.var = nnx.BatchStat(jnp.asarray(mean)), nnx.BatchStat(jnp.asarray(var))
    layer.train() if train else layer.eval()
    graphdef, state = nnx.split(layer)
    pure = nnx.to_pure_dict(state)
    params = {k: pure[k] for k in ("scale", "bias")}
    stats = {k: pure[k] for k in ("mean", "var")}

    def f(params, stats, x):  # as the adapter runs it: merge pure dicts inside the trace
        m = nnx.merge(graphdef, {**params, **stats})
        y = m(x)
        return jnp.sum(y * dy), (y, nnx.to_pure_dict(nnx.state(m, nnx.BatchStat)))

    (_, (y, new_stats)), (gp, dx) = jax.value_and_grad(f, argnums=(0, 2), has_aux=True)(
        params, stats, jnp.asarray(x))
    return {"y": np.asarray(y), "moving_mean": np.asarray(new_stats["mean"]),
            "moving_var": np.asarray(new_stats["var"]), "dx": np.asarray(dx),
            "dgamma": np.asarray(gp["scale"]), "dbeta": np.asarray(gp["bias"])}


BN = {"torch": bn_torch, "keras": bn_keras, "jax": bn_flax}


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", PEERS)
def test_batchnorm(backend, dtype, train, shape):
    shape = SHAPES[shape]
    unbiased = backend == "torch"  # torch's running variance: see the convention test
    want = bn_reference(shape, dtype, train, unbiased=unbiased)
    got = BN[backend](shape, dtype, train)
    for k in ("y", "moving_mean", "moving_var"):
        assert got[k].dtype.name == dtype, k
        assert_close(got[k], want[k], tolerance(dtype, "value"), f"{backend} batchnorm {k}")
    for k in ("dx", "dgamma", "dbeta"):
        assert_close(got[k], want[k], tolerance(dtype, "grad"), f"{backend} batchnorm {k}")


def test_batchnorm_batch_of_one_eval():
    """Batch size 1 in eval mode normalizes with the running statistics, everywhere."""
    want = bn_reference((1, 5), "float64", False)
    for backend, fn in BN.items():
        assert_close(fn((1, 5), "float64", False), want, 1e-10, f"{backend} n=1 eval")


def test_convention_torch_running_var_is_unbiased(record_property):
    """torch stores σ²·n/(n-1): one step on a batch of 32 moves running_var by
    (1-m)·σ²/(n-1) away from Keras/Flax; the reference computes both."""
    biased = bn_reference((32, 128), "float64", True, unbiased=False)["moving_var"]
    got = bn_torch((32, 128), "float64", True)["moving_var"]
    size = rel_err(got, biased)
    record_property("torch_running_var_one_step_n32", size)
    print(f"torch running_var vs biased, one step, n=32: {size:.3g}")
    assert size > 1e-4


def test_convention_torch_running_var_after_training(record_property):
    """The gap after 100 steps of the dense net (digits, batch 32)."""
    from mlsandbox.testing.trajectories import NETS, batches, net

    params = net("densenet", "numpy").spec.init(seed=3, dtype="float64")
    data = batches("densenet")
    torch_p, _ = net("densenet", "torch").train(params, data, "sgd", lr=0.05, momentum=0.9)
    keras_p, _ = net("densenet", "keras").train(params, data, "sgd", lr=0.05, momentum=0.9)
    size = rel_err(torch_p["bn.moving_variance"], keras_p["bn.moving_variance"])
    record_property("torch_vs_keras_running_var_100_steps", size)
    print(f"torch vs keras running var after 100 steps: {size:.3g}")
    assert size > 1e-4
    assert NETS["densenet"]["batchnorm"]


def test_convention_flax_fast_variance(record_property):
    """nnx.BatchNorm's default ``use_fast_variance=True`` computes E[x²] - E[x]²; on raw
    MNIST-scale pixels (mean ~100) that loses digits in float32.  The dense net sets it
    False."""
    from models.frameworks import load_flax

    jax, jnp, nnx, _ = load_flax()
    rng = np.random.default_rng(0)
    x = (rng.uniform(0, 255, (32, 16)) + 100).astype("float32")
    sizes = {}
    for fast in (False, True):
        layer = nnx.BatchNorm(16, momentum=MOMENTUM, epsilon=EPS, use_fast_variance=fast,
                              rngs=nnx.Rngs(0))
        layer.train()
        got = np.asarray(layer(jnp.asarray(x)))
        want = batchnorm_forward(x.astype("float64"), 1.0, 0.0, 0.0, 1.0, train=True,
                                 momentum=MOMENTUM, eps=EPS)[0]
        sizes[fast] = rel_err(got, want)
    record_property("flax_fast_variance_float32", sizes[True])
    print(f"flax BN float32 error vs float64 reference: fast {sizes[True]:.3g}, "
          f"two-pass {sizes[False]:.3g}")
    assert sizes[True] > sizes[False]


def test_convention_keras_float32_constants(record_property, monkeypatch):
    """Keras BatchNormalization's momentum and regularizers.l2's λ through float32 (the
    adapter's ``exact_constants`` off): the dense net's loss and running mean move."""
    cfg = {"n_in": 20, "n_hidden": 8, "batchnorm": True, "dropout_rate": 0.0, "l2": 1e-2}
    spec = models.spec("densenet", **cfg)
    params = spec.init(seed=0)
    batch = spec.example(n=16, seed=1)
    exact = models.get("densenet", "keras", **cfg)
    want_l, want_g = exact.loss_and_grads(params, batch, train=True)
    loose = models.get("densenet", "keras", **cfg)
    monkeypatch.setattr(loose, "exact_lr", False)
    got_l, got_g = loose.loss_and_grads(params, batch, train=True)
    size = abs(got_l - want_l) / max(1.0, abs(want_l))
    record_property("keras_l2_float32_loss", size)
    print(f"keras l2(0.01) through float32: loss {size:.3g}, grads "
          f"{max(rel_err(got_g[k], want_g[k]) for k in want_g):.3g}")
    assert size > 1e-10


# ------------------------------------------------------------------------------ dropout


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", PEERS)
def test_dropout_injected_mask(backend, dtype):
    """Each adapter's Dropout layer with an injected mask equals the reference, forward
    and backward; eval mode is the identity."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 9)).astype(dtype)
    dy = rng.standard_normal((6, 9)).astype(dtype)
    mask = (rng.random((6, 9)) >= 0.3).astype(dtype)
    y_ref, cache = dropout_forward(x, mask, 0.3)
    dx_ref = dropout_backward(dy, cache)
    y, dx = DROPOUT[backend](x, dy, mask, 0.3)
    assert_close(y, y_ref, tolerance(dtype, "value"), f"{backend} dropout forward")
    assert_close(dx, dx_ref, tolerance(dtype, "grad"), f"{backend} dropout backward")


def _dropout_torch(x, dy, mask, rate):
    import torch

    from models.adapters.torch_adapter import Dropout

    layer = Dropout(rate).train()
    layer.injected = torch.tensor(mask)
    xt = torch.tensor(x, requires_grad=True)
    y = layer(xt)
    y.backward(torch.tensor(dy))
    layer.eval()
    assert torch.equal(layer(xt), xt)
    return y.detach().numpy(), xt.grad.numpy()


def _dropout_keras(x, dy, mask, rate):
    from models.frameworks import load_keras
    from models.adapters.keras_adapter import Dropout

    keras, tf = load_keras()
    layer = Dropout(rate, dtype=x.dtype.name)
    object.__setattr__(layer, "_injected", tf.constant(mask))
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=True)
        obj = tf.reduce_sum(y * dy)
    np.testing.assert_array_equal(layer(xt, training=False).numpy(), x)
    return y.numpy(), tape.gradient(obj, xt).numpy()


def _dropout_flax(x, dy, mask, rate):
    from models.frameworks import load_flax
    from models.adapters.jax_adapter import Dropout

    jax, jnp, nnx, _ = load_flax()
    layer = Dropout(rate)
    object.__setattr__(layer, "_injected", jnp.asarray(mask))
    y, vjp = jax.vjp(lambda v: layer(v), jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(layer(jnp.asarray(x), deterministic=True)), x)
    return np.asarray(y), np.asarray(vjp(jnp.asarray(dy))[0])


DROPOUT = {"torch": _dropout_torch, "keras": _dropout_keras, "jax": _dropout_flax}


@pytest.mark.parametrize("backend", PEERS)
def test_dropout_own_rng(backend):
    """Without a mask, train mode uses the framework's RNG: about ``rate`` of the units
    are zeroed and the rest scaled by 1/(1-rate)."""
    cfg = {"n_in": 64, "n_hidden": 512, "dropout_rate": 0.5}
    spec = models.spec("densenet", **cfg)
    params = spec.init(seed=0)
    params["dense2.kernel"] = np.eye(512, 10)  # logits show the first 10 hidden units
    params["dense2.bias"] = np.zeros(10)
    batch = spec.example(n=64, seed=1)
    n = models.get("densenet", backend, **cfg)
    evals = n.forward(params, batch)
    train = n.forward(params, batch, train=True)
    alive = evals != 0
    kept = np.isclose(train[alive], 2 * evals[alive], rtol=1e-12)
    dropped = train[alive] == 0
    assert np.all(kept | dropped)
    assert 0.35 < dropped.mean() < 0.65


# ----------------------------------------------------------------------------- penalties


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_penalties(kind):
    """λΣ|w| and λΣw² and their gradients against torch autograd, Keras's regularizers
    (exact λ) and jax.grad, float64."""
    import torch

    from models.frameworks import load_flax, load_keras

    keras, tf = load_keras()
    jax, jnp, _, _ = load_flax()
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 5))
    w[0, 0] = 0.0  # the subgradient of |w| at 0
    lam = 0.03
    fwd, bwd = {"l1": (l1_penalty_forward, l1_penalty_backward),
                "l2": (l2_penalty_forward, l2_penalty_backward)}[kind]
    value, cache = fwd(w, lam)
    grad = bwd(1.0, cache)

    def expr(lib_abs, v):
        return lam * (lib_abs(v).sum() if kind == "l1" else (v * v).sum())

    wt = torch.tensor(w, requires_grad=True)
    vt = expr(torch.abs, wt)
    vt.backward()
    assert_close(vt.item(), value, 1e-12, f"torch {kind}")
    assert_close(wt.grad.numpy(), grad, 1e-12, f"torch {kind} grad")

    vj, gj = jax.value_and_grad(lambda v: expr(jnp.abs, v))(jnp.asarray(w))
    assert_close(float(vj), value, 1e-12, f"jax {kind}")
    gj = np.array(gj)
    if kind == "l1":  # convention: jax.grad(jnp.abs)(0.) is 1, torch's and TF's 0
        assert gj[0, 0] == lam and grad[0, 0] == 0.0
        gj[0, 0] = 0.0
    assert_close(gj, grad, 1e-12, f"jax {kind} grad")

    reg = {"l1": keras.regularizers.L1, "l2": keras.regularizers.L2}[kind](lam)
    setattr(reg, kind, np.float64(lam))  # the adapter's exact_constants
    wk = tf.Variable(w)
    with tf.GradientTape() as tape:
        vk = reg(wk)
    assert_close(float(vk), value, 1e-12, f"keras {kind}")
    assert_close(tape.gradient(vk, wk).numpy(), grad, 1e-12, f"keras {kind} grad")


def test_convention_l2_is_twice_weight_decay():
    """Keras's l2(λ) penalty gives the gradient 2λw: torch SGD with weight_decay=2λ and no
    penalty takes exactly the step of SGD on the loss with Keras's penalty."""
    import torch

    rng = np.random.default_rng(0)
    w0, g = rng.standard_normal(6), rng.standard_normal(6)
    lam, lr = 0.01, 0.1
    _, cache = l2_penalty_forward(w0, lam)
    want = w0 - lr * (g + l2_penalty_backward(1.0, cache))
    p = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, weight_decay=2 * lam)
    p.grad = torch.tensor(g)
    opt.step()
    assert_close(p.detach().numpy(), want, 1e-15, "torch weight_decay=2λ vs l2(λ)")
    p1 = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.SGD([p1], lr=lr, weight_decay=lam)
    p1.grad = torch.tensor(g)
    opt.step()
    assert rel_err(p1.detach().numpy(), want) > 1e-4


# ------------------------------------------------------------- the dense net, train mode


CFG = {"batchnorm": True, "l2": 1e-3}


@functools.lru_cache(maxsize=None)
def dense_case(dtype, n, unbiased=False):
    spec = models.spec("densenet", **CFG)
    params = spec.init(seed=1, dtype=dtype)
    batch = {**spec.example(n=n, seed=2, dtype=dtype), "masks": spec.masks(n, 3, dtype)}
    ref = models.get("densenet", "numpy", **CFG)
    return params, batch, ref.forward(params, batch, train=True), \
        ref.loss_and_grads(params, batch, train=True)


@pytest.mark.parametrize("n", [7, 32])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", PEERS)
def test_densenet_train_mode(backend, dtype, n):
    params, batch, want, (want_l, want_g) = dense_case(dtype, n)
    net = models.get("densenet", backend, **CFG)
    got = net.forward(params, batch, train=True)
    assert_close(got, want, tolerance(dtype, "value"), f"densenet/{backend} train logits")
    got_l, got_g = net.loss_and_grads(params, batch, train=True)
    assert list(got_g) == list(models.spec("densenet", **CFG).trainable())
    assert_close(got_l, want_l, tolerance(dtype, "value"), f"densenet/{backend} train loss")
    assert_close(got_g, want_g, tolerance(dtype, "grad"), f"densenet/{backend} train grads")


def test_masks_checked():
    spec = models.spec("densenet", **CFG)
    params = spec.init(seed=1)
    net = models.get("densenet", "numpy", **CFG)
    batch = spec.example(n=4, seed=2)
    with pytest.raises(models.ContractError, match="unknown dropout layers"):
        net.forward(params, {**batch, "masks": {"drop": np.ones((4, 128))}}, train=True)
    with pytest.raises(models.ContractError, match="only 0 and 1"):
        net.forward(params, {**batch, "masks": {"dropout": np.full((4, 128), 2.0)}},
                    train=True)
    with pytest.raises(models.ContractError, match=r"shape \(4, 1\), expected \(4, 128\)"):
        net.forward(params, {**batch, "masks": {"dropout": np.ones((4, 1))}}, train=True)
    # no mask: the reference draws one from default_rng([seed 0, step 0]), the rule of
    # models._network, so a train-mode forward is reproducible
    drawn = spec.masks(4, seed=[0, 0])
    assert np.array_equal(net.forward(params, batch, train=True),
                          net.forward(params, {**batch, "masks": drawn}, train=True))
