"""The fast JAX kernels (:mod:`kernels.accel`) equal the NumPy reference: forward, loss,
gradients and whole fused training runs, float64 (1e-10) and float32 (1e-5, grads 1e-4)."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

import models
from mlsandbox.compare import TRAJECTORY, assert_close, tolerance
from parity.cases import DTYPES

pytestmark = pytest.mark.jax

#: (n_hidden, batch size): the notebook's 10 (padded to 16), a width already on the lane
#: (16), one below it (3 -> 8), batch sizes 1, odd and the parity suite's 256
SHAPES = [(10, 1), (10, 7), (10, 256), (16, 7), (3, 5)]
CASES = [pytest.param(dtype, h, n, id=f"{dtype}-h{h}-n{n}")
         for dtype, (h, n) in itertools.product(DTYPES, SHAPES)]


@functools.lru_cache(maxsize=None)
def nets(n_hidden):
    return (models.get("mlp", "numpy", n_in=784, n_hidden=n_hidden),
            models.get("mlp", "jax", n_in=784, n_hidden=n_hidden, impl="fused"))


@functools.lru_cache(maxsize=None)
def case(dtype, n_hidden, n):
    ref, _ = nets(n_hidden)
    params = ref.spec.init(seed=1, dtype=dtype)
    batch = ref.spec.example(n=n, seed=2, dtype=dtype)
    return params, batch, ref.forward(params, batch), ref.loss_and_grads(params, batch)


@pytest.mark.parametrize("dtype, n_hidden, n", CASES)
def test_fused_mlp_forward(dtype, n_hidden, n):
    params, batch, want, _ = case(dtype, n_hidden, n)
    got = nets(n_hidden)[1].forward(params, batch)
    assert got.dtype.name == dtype
    assert_close(got, want, tolerance(dtype), "fused MLP logits")


@pytest.mark.parametrize("dtype, n_hidden, n", CASES)
def test_fused_mlp_loss_and_grads(dtype, n_hidden, n):
    """Through the network (the custom_vjp under ``jax.value_and_grad``)."""
    params, batch, _, (want_loss, want_grads) = case(dtype, n_hidden, n)
    loss, grads = nets(n_hidden)[1].loss_and_grads(params, batch)
    assert_close(loss, want_loss, tolerance(dtype), "fused MLP loss")
    assert {k: g.dtype.name for k, g in grads.items()} == {k: dtype for k in want_grads}
    assert_close(grads, want_grads, tolerance(dtype, "grad"), "fused MLP gradients")


@pytest.mark.parametrize("dtype, n_hidden, n", CASES)
def test_fused_mlp_kernel_with_both_layouts(dtype, n_hidden, n):
    """The kernel itself, fed the real transposed copy of X (the full-batch path)."""
    from kernels.accel import mlp
    from models.adapters.jax_adapter import flatten, nest

    params, batch, _, (want_loss, want_grads) = case(dtype, n_hidden, n)
    data = mlp.layouts(batch["x"])
    assert data.xt.shape == batch["x"].shape[::-1]
    loss, grads = mlp.loss_and_grads(nest(params), data.x, data.xt, batch["y"])
    assert_close(np.asarray(loss), want_loss, tolerance(dtype), "kernel loss")
    assert_close({k: np.asarray(v) for k, v in flatten(grads).items()}, want_grads,
                 tolerance(dtype, "grad"), "kernel gradients")


@pytest.fixture(scope="module")
def mnist_runs(mnist_subset):
    """The NumPy reference's 100-step full-batch runs on real MNIST, float64."""
    batch, _ = mnist_subset
    ref = models.get("mlp", "numpy", n_in=784)
    params = ref.spec.init(seed=0, dtype="float64")
    runs = {}
    for opt, hyper in RUNS.items():
        runs[opt] = ref.train(params, batch, opt, steps=100, return_opt_state=True, **hyper)
    return batch, params, runs


RUNS = {"sgd": {"lr": 0.1, "momentum": 0.9}, "adam": {"lr": 1e-3}}


@pytest.mark.parametrize("optimizer", list(RUNS))
def test_fused_run_trajectory_on_mnist(optimizer, mnist_runs):
    """100 full-batch steps in one fused ``lax.scan`` (both layouts of X): every loss, the
    final params and the optimizer state follow the NumPy reference's run."""
    batch, params, runs = mnist_runs
    want_params, want_losses, want_state = runs[optimizer]
    net = models.get("mlp", "jax", n_in=784, impl="fused")
    got_params, got_losses, got_state = net.train(params, batch, optimizer, steps=100,
                                                  return_opt_state=True, **RUNS[optimizer])
    assert want_losses[-1] < 0.8 * want_losses[0]  # it trains
    tol = TRAJECTORY["optimizer"]
    assert_close(got_losses, want_losses, tol, f"{optimizer} losses")
    assert_close(got_params, want_params, tol, f"{optimizer} final params")
    assert_close(got_state, want_state, tol, f"{optimizer} optimizer state")


def test_fused_run_resumes_where_it_stopped(mnist_runs):
    """Two fused runs of 50 steps, the state handed over in canonical form, equal one of
    100 (the step count and Adam's moments survive the hand-over)."""
    batch, params, runs = mnist_runs
    net = models.get("mlp", "jax", n_in=784, impl="fused")
    p, l1, s = net.train(params, batch, "adam", steps=50, return_opt_state=True, lr=1e-3)
    p, l2, s = net.train(p, batch, "adam", steps=50, opt_state=s, return_opt_state=True,
                         lr=1e-3)
    assert int(s["step"]) == 100
    assert_close(np.concatenate([l1, l2]), runs["adam"][1], TRAJECTORY["optimizer"],
                 "losses of the resumed run")


def test_fused_and_xla_impls_train_alike_on_minibatches(mnist_subset):
    """A list of batches goes through the adapter's optax scan with the fused custom_vjp
    inside; it matches the plain Flax model step for step (float64)."""
    batch, _ = mnist_subset
    batches = [{"x": batch["x"][i:i + 100], "y": batch["y"][i:i + 100]}
               for i in range(0, 500, 100)]
    plain = models.get("mlp", "jax", n_in=784)
    fused = models.get("mlp", "jax", n_in=784, impl="fused")
    params = plain.spec.init(seed=0, dtype="float64")
    want = plain.train(params, batches, "sgd", lr=0.1)
    got = fused.train(params, batches, "sgd", lr=0.1)
    assert_close(got[1], want[1], TRAJECTORY["optimizer"], "losses")
    assert_close(got[0], want[0], TRAJECTORY["optimizer"], "params")


def test_impl_is_a_backend_option():
    plain = models.get("mlp", "jax", n_in=784)
    assert plain.impl == "xla" and plain.spec == models.spec("mlp", n_in=784)
    assert models.get("mlp", "jax", n_in=784, impl="fused").impl == "fused"
    with pytest.raises(ValueError, match=r"impl='turbo'.*expected one of \['xla', 'fused'\]"):
        models.get("mlp", "jax", impl="turbo")
    with pytest.raises(TypeError, match="impl"):  # not a NumPy option: the spec refuses it
        models.get("mlp", "numpy", impl="fused")


# -- 2x2 max pooling (kernels/accel/pool.py) vs kernels.pool ----------------------------
POOL_SHAPES = [(1, 2, 2, 1), (2, 6, 6, 3), (3, 7, 5, 2), (2, 13, 13, 4), (32, 60, 60, 10)]


@pytest.mark.parametrize("shape", POOL_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_2x2_forward_and_backward(dtype, shape):
    """Values after a ReLU (whole windows tie at 0) plus planted positive ties: the
    gradient goes to the first maximum in row-major order, as in the reference."""
    from kernels.pool import maxpool2d_backward, maxpool2d_forward
    from models._frameworks import load_flax

    jax = load_flax()[0]  # x64 on before any array is made
    from kernels.accel.pool import max_pool_2x2

    rng = np.random.default_rng(sum(shape))
    x = np.maximum(rng.normal(size=shape), 0).astype(dtype)
    x[0, 0, :2, 0] = x[0, 1, 0, 0] = 3.0            # a positive tie in the first window
    if shape[1] > 3:
        x[-1, 2:4, 2:4, -1] = 2.0                    # all four tie
    want, cache = maxpool2d_forward(x, 2)
    dy = rng.normal(size=want.shape).astype(dtype)
    want_dx = maxpool2d_backward(dy, cache)
    got, pullback = jax.vjp(max_pool_2x2, jax.numpy.asarray(x))
    (got_dx,) = pullback(jax.numpy.asarray(dy))
    assert got.dtype.name == dtype and got_dx.dtype.name == dtype
    assert_close(np.asarray(got), want, tolerance(dtype), "max-pool output")
    assert_close(np.asarray(got_dx), want_dx, tolerance(dtype, "grad"), "max-pool dx")


def test_max_pool_2x2_refuses_an_image_smaller_than_its_window():
    from kernels.accel.pool import max_pool_2x2

    with pytest.raises(ValueError, match="does not fit a 1x4 image"):
        max_pool_2x2(np.zeros((1, 1, 4, 1), np.float32))


# -- the convolutional networks with impl="fast" vs the NumPy reference ----------------
CONV = {
    "tinyvgg-20": ("tinyvgg", {"image_size": 20}, 3),
    "tinyvgg-64x64x3": ("tinyvgg", {}, 2),
    "tinyvgg-fashion-same": ("tinyvgg", {"image_size": 28, "channels": 1, "n_out": 10,
                                         "padding": "same"}, 3),
    "cnn-28x28x1": ("cnn", {}, 3),
}
CONV_CELLS = [pytest.param(c, d, id=f"{c}-{d}") for c, d in itertools.product(CONV, DTYPES)]


@functools.lru_cache(maxsize=None)
def conv_case(case, dtype):
    name, config, n = CONV[case]
    ref = models.get(name, "numpy", **config)
    params = ref.spec.init(seed=3, dtype=dtype)
    batch = ref.spec.example(n=n, seed=4, dtype=dtype)
    fast = models.get(name, "jax", impl="fast", **config)
    return fast, params, batch, ref.forward(params, batch), ref.loss_and_grads(params, batch)


@pytest.mark.parametrize("case, dtype", CONV_CELLS)
def test_fast_conv_network_forward_loss_grads(case, dtype):
    fast, params, batch, want, (want_loss, want_grads) = conv_case(case, dtype)
    assert fast.impl == "fast"
    got = fast.forward(params, batch)
    assert got.dtype.name == dtype
    assert_close(got, want, tolerance(dtype), f"{case} fast logits")
    loss, grads = fast.loss_and_grads(params, batch)
    assert_close(loss, want_loss, tolerance(dtype), f"{case} fast loss")
    assert_close(grads, want_grads, tolerance(dtype, "grad"), f"{case} fast gradients")


def test_fast_tinyvgg_adam_trajectory():
    """Ten Adam steps on minibatches (the adapter's fused scan with the fast pool inside)
    follow the NumPy reference's, float64."""
    ref = models.get("tinyvgg", "numpy", image_size=20)
    fast = models.get("tinyvgg", "jax", image_size=20, impl="fast")
    params = ref.spec.init(seed=5, dtype="float64")
    batches = [ref.spec.example(n=4, seed=10 + i, dtype="float64") for i in range(10)]
    want = ref.train(params, batches, "adam", lr=1e-2)
    got = fast.train(params, batches, "adam", lr=1e-2)
    assert_close(got[1], want[1], TRAJECTORY["optimizer"], "losses")
    assert_close(got[0], want[0], TRAJECTORY["optimizer"], "params")


def test_fast_conv_impl_is_a_backend_option():
    assert models.get("tinyvgg", "jax").impl == "xla"
    with pytest.raises(ValueError, match=r"impl='fused'.*expected one of \['xla', 'fast'\]"):
        models.get("tinyvgg", "jax", impl="fused")
