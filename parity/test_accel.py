"""The fast JAX kernels (:mod:`kernels.accel`) equal the NumPy reference: forward, loss,
gradients and whole fused training runs, float64 (1e-10) and float32 (1e-5, grads 1e-4)."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

import models
from mlsandbox.compare import TRAJECTORY, assert_close, tolerance
from mlsandbox.testing.cases import DTYPES

pytestmark = pytest.mark.jax

#: (n_hidden, batch size): the notebook's 10 (padded to 16), a width already on the lane
#: (16), one below it (3 -> 8), batch sizes 1, odd and the parity suite's 256
SHAPES = [(10, 1), (10, 7), (10, 256), (16, 7), (3, 5)]


def _onednn_reason():
    from kernels.accel import native

    return native.unavailable("onednn")


needs_onednn = pytest.mark.skipif(_onednn_reason() is not None,
                                  reason=f"impl='onednn': {_onednn_reason()}")
#: the MLP's kernel sets; with "onednn" float32 products go to oneDNN and float64 ones
#: stay XLA's (the float64 cells hold that fallback to 1e-10)
MLP_IMPLS = [pytest.param("fused", id="fused"),
             pytest.param("onednn", id="onednn", marks=needs_onednn)]
CASES = [pytest.param(dtype, h, n, id=f"{dtype}-h{h}-n{n}")
         for dtype, (h, n) in itertools.product(DTYPES, SHAPES)]


@functools.lru_cache(maxsize=None)
def nets(n_hidden, impl="fused"):
    return (models.get("mlp", "numpy", n_in=784, n_hidden=n_hidden),
            models.get("mlp", "jax", n_in=784, n_hidden=n_hidden, impl=impl))


@functools.lru_cache(maxsize=None)
def case(dtype, n_hidden, n):
    ref, _ = nets(n_hidden)
    params = ref.spec.init(seed=1, dtype=dtype)
    batch = ref.spec.example(n=n, seed=2, dtype=dtype)
    return params, batch, ref.forward(params, batch), ref.loss_and_grads(params, batch)


@pytest.mark.parametrize("impl", MLP_IMPLS)
@pytest.mark.parametrize("dtype, n_hidden, n", CASES)
def test_fused_mlp_forward(dtype, n_hidden, n, impl):
    params, batch, want, _ = case(dtype, n_hidden, n)
    got = nets(n_hidden, impl)[1].forward(params, batch)
    assert got.dtype.name == dtype
    assert_close(got, want, tolerance(dtype), "fused MLP logits")


@pytest.mark.parametrize("impl", MLP_IMPLS)
@pytest.mark.parametrize("dtype, n_hidden, n", CASES)
def test_fused_mlp_loss_and_grads(dtype, n_hidden, n, impl):
    """Through the network (the custom_vjp under ``jax.value_and_grad``; with oneDNN,
    ``Xᵀ dZ1`` read from X in its transposed layout)."""
    params, batch, _, (want_loss, want_grads) = case(dtype, n_hidden, n)
    loss, grads = nets(n_hidden, impl)[1].loss_and_grads(params, batch)
    assert_close(loss, want_loss, tolerance(dtype), "fused MLP loss")
    assert {k: g.dtype.name for k, g in grads.items()} == {k: dtype for k in want_grads}
    assert_close(grads, want_grads, tolerance(dtype, "grad"), "fused MLP gradients")


@pytest.mark.parametrize("gemm", MLP_IMPLS[:1] + [pytest.param("onednn", marks=needs_onednn)])
@pytest.mark.parametrize("dtype, n_hidden, n", CASES)
def test_fused_mlp_kernel_with_both_layouts(dtype, n_hidden, n, gemm):
    """The kernel itself, fed the real transposed copy of X (the full-batch path)."""
    from kernels.accel import mlp
    from models.adapters.jax_adapter import flatten, nest

    gemm = "xla" if gemm == "fused" else gemm
    params, batch, _, (want_loss, want_grads) = case(dtype, n_hidden, n)
    data = mlp.layouts(batch["x"])
    assert data.xt.shape == batch["x"].shape[::-1]
    loss, grads = mlp.loss_and_grads(nest(params), data.x, data.xt, batch["y"], gemm)
    assert_close(np.asarray(loss), want_loss, tolerance(dtype), "kernel loss")
    assert_close({k: np.asarray(v) for k, v in flatten(grads).items()}, want_grads,
                 tolerance(dtype, "grad"), "kernel gradients")


@pytest.fixture(scope="module")
def mnist_runs(mnist_subset):
    """The NumPy reference's 100-step full-batch runs on real MNIST (the digits where
    shared/ is absent: the width follows the data), float64."""
    batch, _ = mnist_subset
    ref = models.get("mlp", "numpy", n_in=batch["x"].shape[1])
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
    net = models.get("mlp", "jax", n_in=batch["x"].shape[1], impl="fused")
    got_params, got_losses, got_state = net.train(params, batch, optimizer, steps=100,
                                                  return_opt_state=True, **RUNS[optimizer])
    assert want_losses[-1] < 0.8 * want_losses[0]  # it trains
    tol = TRAJECTORY["optimizer"]
    assert_close(got_losses, want_losses, tol, f"{optimizer} losses")
    assert_close(got_params, want_params, tol, f"{optimizer} final params")
    assert_close(got_state, want_state, tol, f"{optimizer} optimizer state")


@needs_onednn
@pytest.mark.parametrize("optimizer", list(RUNS))
def test_onednn_fused_run_trajectory_on_mnist_float32(optimizer, mnist_subset):
    """The same 100-step fused runs in float32 with oneDNN's GEMM for the products with X:
    every loss and the final params within float32's 1e-5 of the NumPy reference's
    float32 run."""
    batch, _ = mnist_subset
    batch = {"x": batch["x"].astype(np.float32), "y": batch["y"]}
    ref = models.get("mlp", "numpy", n_in=batch["x"].shape[1])
    params = ref.spec.init(seed=0, dtype="float32")
    want_params, want_losses = ref.train(params, batch, optimizer, steps=100,
                                         **RUNS[optimizer])
    net = models.get("mlp", "jax", n_in=batch["x"].shape[1], impl="onednn")
    got_params, got_losses = net.train(params, batch, optimizer, steps=100, **RUNS[optimizer])
    assert {v.dtype.name for v in got_params.values()} == {"float32"}
    assert_close(got_losses, want_losses, tolerance("float32"), f"{optimizer} losses")
    assert_close(got_params, want_params, tolerance("float32"), f"{optimizer} final params")


@needs_onednn
@pytest.mark.parametrize("transpose_a", [False, True], ids=["a@b", "aT@b"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 784, 10), (300, 50, 16), (5, 3, 9)],
                         ids=lambda s: "x".join(map(str, s)))
def test_onednn_matmul_and_its_vjp(shape, transpose_a):
    """kernels/accel/gemm.py in float32 against NumPy's float64 product, and its VJP
    against the products that define it."""
    import jax

    from kernels.accel.gemm import matmul

    m, k, n = shape
    rng = np.random.default_rng(m * k * n)
    a = rng.normal(size=(k, m) if transpose_a else (m, k)).astype(np.float32)
    b = rng.normal(size=(k, n)).astype(np.float32)
    g = rng.normal(size=(m, n)).astype(np.float32)
    a64, b64, g64 = (v.astype(np.float64) for v in (a, b, g))
    A = a64.T if transpose_a else a64
    got, pullback = jax.vjp(jax.jit(lambda a, b: matmul(a, b, transpose_a)), a, b)
    da, db = pullback(jax.numpy.asarray(g))
    want_da = (g64 @ b64.T).T if transpose_a else g64 @ b64.T
    assert got.shape == (m, n) and got.dtype.name == "float32"
    assert_close(np.asarray(got), A @ b64, tolerance("float32"), "a @ b")
    assert_close(np.asarray(da), want_da, tolerance("float32", "grad"), "da")
    assert_close(np.asarray(db), A.T @ g64, tolerance("float32", "grad"), "db")
    assert "mlsandbox_matmul" in jax.jit(lambda a, b: matmul(a, b, transpose_a)).lower(
        a, b).as_text()


def test_fused_run_resumes_where_it_stopped(mnist_runs):
    """Two fused runs of 50 steps, the state handed over in canonical form, equal one of
    100 (the step count and Adam's moments survive the hand-over)."""
    batch, params, runs = mnist_runs
    net = models.get("mlp", "jax", n_in=batch["x"].shape[1], impl="fused")
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
    plain = models.get("mlp", "jax", n_in=batch["x"].shape[1])
    fused = models.get("mlp", "jax", n_in=batch["x"].shape[1], impl="fused")
    params = plain.spec.init(seed=0, dtype="float64")
    want = plain.train(params, batches, "sgd", lr=0.1)
    got = fused.train(params, batches, "sgd", lr=0.1)
    assert_close(got[1], want[1], TRAJECTORY["optimizer"], "losses")
    assert_close(got[0], want[0], TRAJECTORY["optimizer"], "params")


def test_impl_is_a_backend_option():
    plain = models.get("mlp", "jax", n_in=784)
    assert plain.impl == "xla" and plain.spec == models.spec("mlp", n_in=784)
    assert models.get("mlp", "jax", n_in=784, impl="fused").impl == "fused"
    with pytest.raises(ValueError,
                       match=r"impl='turbo'.*expected one of \['xla', 'fused', 'onednn', 'auto'\]"):
        models.get("mlp", "jax", impl="turbo")
    with pytest.raises(TypeError, match="impl"):  # not a NumPy option: the spec refuses it
        models.get("mlp", "numpy", impl="fused")


# -- 2x2 max pooling (kernels/accel/pool.py) vs kernels.pool ----------------------------
POOL_SHAPES = [(1, 2, 2, 1), (2, 6, 6, 3), (3, 7, 5, 2), (2, 13, 13, 4), (32, 60, 60, 10),
               (4, 11, 11, 64)]


@pytest.mark.parametrize("impl", ["xla", pytest.param("onednn", marks=needs_onednn)])
@pytest.mark.parametrize("shape", POOL_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_2x2_forward_and_backward(dtype, shape, impl):
    """Values after a ReLU (whole windows tie at 0) plus planted positive ties: the
    gradient goes to the first maximum in row-major order, as in the reference.  With
    oneDNN (float32; float64 is the XLA kernel) the tie rule is oneDNN's workspace's."""
    from kernels.pool import maxpool2d_backward, maxpool2d_forward
    from models.frameworks import load_flax

    jax = load_flax()[0]  # x64 on before any array is made
    from kernels.accel import pool

    max_pool_2x2 = pool.max_pool_2x2 if impl == "xla" else pool.max_pool_2x2_onednn

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


@pytest.mark.parametrize("impl", ["xla", pytest.param("onednn", marks=needs_onednn)])
def test_max_pool_2x2_refuses_an_image_smaller_than_its_window(impl):
    from kernels.accel import pool

    max_pool_2x2 = pool.max_pool_2x2 if impl == "xla" else pool.max_pool_2x2_onednn
    with pytest.raises(ValueError, match="does not fit a 1x4 image"):
        max_pool_2x2(np.zeros((1, 1, 4, 1), np.float32))


# -- oneDNN convolutions as XLA custom calls (kernels/accel/conv.py) vs kernels.conv ------
#: (x shape, kernel shape, strides, padding): TinyVGG's and the MNIST CNN's layers,
#: strides 2 with 'same', asymmetric explicit pads, 1x1 and even kernels, odd images,
#: a batch of one
CONV_GEOMETRIES = {
    "tinyvgg-conv1": ((2, 64, 64, 3), (3, 3, 3, 10), (1, 1), "valid"),
    "tinyvgg-conv2-same": ((2, 28, 28, 10), (3, 3, 10, 10), (1, 1), "same"),
    "cnn-conv1": ((3, 28, 28, 1), (3, 3, 1, 32), (1, 1), "valid"),
    "cnn-conv2": ((3, 13, 13, 32), (3, 3, 32, 64), (1, 1), "valid"),
    "stride2-same": ((2, 9, 7, 4), (3, 3, 4, 5), (2, 2), "same"),
    "stride21-pads": ((1, 8, 9, 2), (3, 2, 2, 3), (2, 1), ((1, 0), (2, 1))),
    "1x1": ((2, 5, 5, 6), (1, 1, 6, 4), (1, 1), "valid"),
    "even-kernel": ((1, 7, 6, 3), (2, 4, 3, 2), (1, 1), "same"),
}


def _conv_reference(geometry, seed, bias_relu):
    from kernels.activations import relu_backward, relu_forward
    from kernels.conv import conv2d_backward, conv2d_forward, conv_padding

    xs, ws, strides, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.normal(size=xs).astype(np.float32)
    w = (rng.normal(size=ws) / np.sqrt(np.prod(ws[:3]))).astype(np.float32)
    b = rng.normal(scale=0.1, size=ws[3]).astype(np.float32) if bias_relu else None
    z, cache = conv2d_forward(x, w, b, stride=strides, padding=padding)
    y, mask = relu_forward(z) if bias_relu else (z, None)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dx, dw, db = conv2d_backward(relu_backward(dy, mask) if bias_relu else dy, cache)
    pads = conv_padding(padding, xs[1:3], ws[:2], strides)
    return (x, w, b, pads), y, dy, (dx, dw, db)


@needs_onednn
@pytest.mark.parametrize("bias_relu", [False, True], ids=["conv2d", "conv2d_bias_relu"])
@pytest.mark.parametrize("geometry", list(CONV_GEOMETRIES))
def test_onednn_conv_forward_and_vjp(geometry, bias_relu):
    """float32 (the dtype the custom calls serve): y and every cotangent, 1e-5 / 1e-4."""
    import jax

    from kernels.accel.conv import conv2d, conv2d_bias_relu

    g = CONV_GEOMETRIES[geometry]
    (x, w, b, pads), want, dy, want_grads = _conv_reference(g, len(geometry), bias_relu)
    if bias_relu:
        fn = jax.jit(lambda x, w, b: conv2d_bias_relu(x, w, b, g[2], pads))
        got, pullback = jax.vjp(fn, x, w, b)
    else:
        fn = jax.jit(lambda x, w: conv2d(x, w, g[2], pads))
        got, pullback = jax.vjp(fn, x, w)
        want_grads = want_grads[:2]
    if bias_relu:
        assert (want == 0).mean() > 0.2  # the ReLU masks a real share of the gradient
    grads = pullback(jax.numpy.asarray(dy))
    tol = tolerance("float32")
    assert got.dtype.name == "float32" and got.shape == want.shape
    assert_close(np.asarray(got), want, tol, f"{geometry} output")
    for name, g_, w_ in zip(("dx", "dw", "db"), grads, want_grads):
        assert g_.dtype.name == "float32"
        assert_close(np.asarray(g_), w_, tolerance("float32", "grad"), f"{geometry} {name}")


@needs_onednn
def test_onednn_conv_dispatch():
    """float32 NHWC/HWIO goes to the custom call; float64, dilation, feature groups and
    other layouts go to XLA's convolution, with XLA's numbers."""
    from jax import lax

    from models.frameworks import load_flax

    jax, jnp = load_flax()[:2]  # x64 on before any array is made

    from kernels.accel.conv import conv_general_dilated

    def lowered(fn, *args):
        return jax.jit(fn).lower(*args).as_text()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 9, 4))
    w = rng.normal(size=(3, 3, 4, 6))
    nhwc = ("NHWC", "HWIO", "NHWC")
    calls = {
        "float32": (lambda f: lambda x, w: f(x, w, (1, 1), "SAME", dimension_numbers=nhwc),
                    np.float32, True),
        "float64": (lambda f: lambda x, w: f(x, w, (1, 1), "SAME", dimension_numbers=nhwc),
                    np.float64, False),
        "dilated": (lambda f: lambda x, w: f(x, w, (1, 1), "VALID", rhs_dilation=(2, 2),
                                             dimension_numbers=nhwc), np.float32, False),
        "groups": (lambda f: lambda x, w: f(x, w[:, :, :2], (1, 1), "VALID",
                                            feature_group_count=2, dimension_numbers=nhwc),
                   np.float32, False),
        "nchw": (lambda f: lambda x, w: f(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1),
                                          (1, 1), "VALID"), np.float32, False),
    }
    for what, (make, dtype, custom) in calls.items():
        xa, wa = jnp.asarray(x.astype(dtype)), jnp.asarray(w.astype(dtype))
        text = lowered(make(conv_general_dilated), xa, wa)
        assert ("mlsandbox_conv_fwd" in text) == custom, what
        got = np.asarray(jax.jit(make(conv_general_dilated))(xa, wa))
        want = np.asarray(jax.jit(make(lax.conv_general_dilated))(xa, wa))
        assert_close(got, want, tolerance(np.dtype(dtype).name), what)


@needs_onednn
def test_onednn_conv_under_vmap():
    """``jax.vmap`` runs the custom call once per element: per-example kernel gradients
    equal the loop over examples."""
    import jax

    from kernels.accel.conv import conv2d

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 1, 8, 8, 2)).astype(np.float32)   # 3 examples of batch 1
    w = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)

    def grad_w(xi):
        return jax.grad(lambda w: (conv2d(xi, w, (1, 1), ((1, 1), (1, 1))) ** 2).sum())(w)

    got = np.asarray(jax.jit(jax.vmap(grad_w))(x))
    want = np.stack([np.asarray(grad_w(xi)) for xi in x])
    assert_close(got, want, tolerance("float32", "grad"), "per-example dw")


@needs_onednn
@pytest.mark.parametrize("kind", ["forward", "backward_data", "backward_weights"])
def test_onednn_runs_a_jit_kernel_for_the_networks_shapes(kind):
    """oneDNN's reference loop (``ref:any``) would be slower than XLA: the layers of
    TinyVGG and the MNIST CNN get one of its JIT kernels on this CPU."""
    from kernels.accel.conv import implementation

    for xs, ws in [((32, 64, 64, 3), (3, 3, 3, 10)), ((32, 62, 62, 10), (3, 3, 10, 10)),
                   ((128, 28, 28, 1), (3, 3, 1, 32)), ((128, 13, 13, 32), (3, 3, 32, 64))]:
        name = implementation(kind, xs, ws)
        assert name and not name.startswith(("ref", "error")), (kind, xs, ws, name)


# -- the convolutional networks with impl="fast" / "onednn" vs the NumPy reference ------
CONV = {
    "tinyvgg-20": ("tinyvgg", {"image_size": 20}, 3),
    "tinyvgg-64x64x3": ("tinyvgg", {}, 2),
    "tinyvgg-fashion-same": ("tinyvgg", {"image_size": 28, "channels": 1, "n_out": 10,
                                         "padding": "same"}, 3),
    "cnn-28x28x1": ("cnn", {}, 3),
}
CONV_CELLS = [pytest.param(c, d, impl, id=f"{c}-{d}-{impl}",
                           marks=[needs_onednn] if impl == "onednn" else [])
              for c, d, impl in itertools.product(CONV, DTYPES, ["fast", "onednn"])]


@functools.lru_cache(maxsize=None)
def conv_reference(case, dtype):
    name, config, n = CONV[case]
    ref = models.get(name, "numpy", **config)
    params = ref.spec.init(seed=3, dtype=dtype)
    batch = ref.spec.example(n=n, seed=4, dtype=dtype)
    return params, batch, ref.forward(params, batch), ref.loss_and_grads(params, batch)


@pytest.mark.parametrize("case, dtype, impl", CONV_CELLS)
def test_fast_conv_network_forward_loss_grads(case, dtype, impl):
    """float64 with impl="onednn" is XLA's convolution (oneDNN has none in float64), so
    the float64 cells hold the fallback to the same 1e-10."""
    name, config, _ = CONV[case]
    fast = models.get(name, "jax", impl=impl, **config)
    params, batch, want, (want_loss, want_grads) = conv_reference(case, dtype)
    assert fast.impl == impl
    got = fast.forward(params, batch)
    assert got.dtype.name == dtype
    assert_close(got, want, tolerance(dtype), f"{case} {impl} logits")
    loss, grads = fast.loss_and_grads(params, batch)
    assert_close(loss, want_loss, tolerance(dtype), f"{case} {impl} loss")
    assert_close(grads, want_grads, tolerance(dtype, "grad"), f"{case} {impl} gradients")


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


@needs_onednn
@pytest.mark.parametrize("name", ["tinyvgg", "cnn"])
def test_onednn_network_adam_trajectory_float32(name):
    """Ten Adam steps on minibatches, float32, every convolution a oneDNN custom call
    (the adapter's fused scan around them): losses 1e-5 and params 1e-5 of the NumPy
    reference run in float32, the CNN's dropout masks injected."""
    config = {"image_size": 20} if name == "tinyvgg" else {}
    ref = models.get(name, "numpy", **config)
    fast = models.get(name, "jax", impl="onednn", **config)
    params = ref.spec.init(seed=5, dtype="float32")
    batches = [ref.spec.example(n=4, seed=10 + i, dtype="float32") for i in range(10)]
    if ref.spec.dropout():
        for i, b in enumerate(batches):
            b["masks"] = ref.spec.masks(4, seed=100 + i, dtype="float32")
    want = ref.train(params, batches, "adam", lr=1e-3)
    got = fast.train(params, batches, "adam", lr=1e-3)
    assert_close(got[1], want[1], tolerance("float32"), "losses")
    assert_close(got[0], want[0], tolerance("float32"), "params")


def test_fast_conv_impl_is_a_backend_option():
    assert models.get("tinyvgg", "jax").impl == "xla"
    with pytest.raises(ValueError,
                       match=r"impl='fused'.*expected one of \['xla', 'fast', 'onednn', 'auto'\]"):
        models.get("tinyvgg", "jax", impl="fused")
