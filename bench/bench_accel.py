"""The fast JAX kernels (:mod:`kernels.accel`), in the groups of ``bench_mlp.py`` and
``bench_conv.py``, so that one table compares them with every framework::

    python -m mlsandbox.alloc pytest bench --benchmark-only --benchmark-group-by=group

Entries carry the kernel set in their id: ``[fused]`` / ``[onednn]`` for the MLP,
``[<net>-fast]`` / ``[<net>-onednn]`` for the conv networks; the plain Flax model is the
``jax`` entry of the other files.  Each kernel set is timed in a process of its own
(``jax-fast``, ``jax-onednn``: see mlsandbox/benchrun.py), every one under the same
allocator (``python -m mlsandbox.alloc`` sets the tuned one; without it, glibc's
default): ``extra_info["allocator"]`` records which.
"""

from __future__ import annotations

import pytest

import models
from bench import harness
from mlsandbox import alloc

pytestmark = pytest.mark.jax
RUN_STEPS = 100  # as bench_mlp.RUN_STEPS


def _info(benchmark, group, impl, **extra):
    benchmark.group = group
    benchmark.extra_info.update(harness.machine_info("jax"), allocator=alloc.describe(),
                                impl=impl, **extra)


# -- MLP 784-10-10 on 42,000 x 784 (groups of bench_mlp.py) --------------------------
#: the MLP's kernel sets (models/adapters/jax_accel.py): "fused" is pure XLA, "onednn" the
#: same kernel with the two products with X through oneDNN's GEMM
MLP_IMPLS = ["fused", "onednn"]


def _skip_without_onednn(impl):
    from kernels.accel import native

    if impl == "onednn" and native.unavailable() is not None:
        pytest.skip(f"impl='onednn': {native.unavailable()}")


def _mlp(benchmark, mnist_42k, group, impl):
    _skip_without_onednn(impl)
    batch, source = mnist_42k
    net = models.get("mlp", "jax", n_in=784, impl=impl)
    params = net.spec.init(seed=0, dtype="float32")
    _info(benchmark, group, impl, data=source, shape=list(batch["x"].shape),
          dtype="float32")
    if impl == "onednn":
        benchmark.extra_info.update(onednn=_onednn_version(), onednn_isa=_onednn_isa())
    return net, params, batch


@pytest.mark.parametrize("impl", MLP_IMPLS)
def test_mlp_forward_fused(benchmark, mnist_42k, impl):
    net, params, batch = _mlp(benchmark, mnist_42k, "mlp-forward", impl)
    benchmark(harness.forward(net, params, batch["x"]))


@pytest.mark.parametrize("impl", MLP_IMPLS)
def test_mlp_train_step_fused(benchmark, mnist_42k, impl):
    """One full-batch GD step (lr 0.1), hand-fused: see kernels/accel/mlp.py."""
    net, params, batch = _mlp(benchmark, mnist_42k, "mlp-train-step", impl)
    benchmark(harness.train_step(net, params, batch, "sgd", lr=0.1))


@pytest.mark.parametrize("impl", MLP_IMPLS)
def test_mlp_train_run_fused(benchmark, mnist_42k, impl):
    """100 fused steps in one lax.scan (time per call: divide by 100 for a step)."""
    net, params, batch = _mlp(benchmark, mnist_42k, f"mlp-train-{RUN_STEPS}-steps", impl)
    benchmark.extra_info["steps_per_call"] = RUN_STEPS
    fn = harness.train_run(net, params, batch, RUN_STEPS, "sgd", lr=0.1)
    benchmark.pedantic(fn, rounds=3 if benchmark.enabled else 1, iterations=1)


# -- the conv networks (groups of bench_conv.py: same shapes, same data) ---------------
CONV_SHAPES = {"tinyvgg": ({}, 32), "cnn": ({}, 128)}  # as bench_conv.SHAPES
CONV_NETWORKS = [n for n in CONV_SHAPES if n in models.NETWORKS]


#: the conv networks' kernel sets (models/adapters/jax_accel.py): "fast" is pure XLA (the
#: pool), "onednn" adds oneDNN's convolutions as custom calls (skipped, with the reason,
#: where they cannot be built)
CONV_IMPLS = ["fast", "onednn"]


def _conv(name, impl, benchmark, what):
    _skip_without_onednn(impl)
    config, n = CONV_SHAPES[name]
    net = models.get(name, "jax", impl=impl, **config)
    params = net.spec.init(seed=0, dtype="float32")
    batch = net.spec.example(n=n, seed=1, dtype="float32")
    _info(benchmark, f"{name}-{what}", impl, data="seeded normal noise",
          shape=list(batch["x"].shape), dtype="float32")
    if impl == "onednn":
        benchmark.extra_info.update(onednn=_onednn_version(), onednn_isa=_onednn_isa())
    return net, params, batch


def _onednn_isa() -> str:
    """The implementation oneDNN picks for a small convolution, e.g. ``"jit:avx2"``: the
    instruction set our kernels really run (``ONEDNN_MAX_CPU_ISA`` caps it)."""
    from kernels.accel import conv

    return conv.implementation("forward", (8, 16, 16, 8), (3, 3, 8, 8))


def _onednn_version() -> str:
    from kernels.accel import native

    root = native.onednn_root()
    header = root / "include" / "oneapi" / "dnnl" / "dnnl_version.h"
    fields = dict(line.split()[1:3] for line in header.read_text().splitlines()
                  if line.startswith("#define DNNL_VERSION_") and len(line.split()) >= 3)
    return ".".join(fields.get(f"DNNL_VERSION_{k}", "?") for k in ("MAJOR", "MINOR", "PATCH"))


@pytest.mark.parametrize("impl", CONV_IMPLS)
@pytest.mark.parametrize("name", CONV_NETWORKS)
def test_conv_forward_fast(benchmark, name, impl):
    net, params, batch = _conv(name, impl, benchmark, "forward")
    benchmark(harness.forward(net, params, batch["x"]))


@pytest.mark.parametrize("impl", CONV_IMPLS)
@pytest.mark.parametrize("name", CONV_NETWORKS)
def test_conv_train_step_fast(benchmark, name, impl):
    """One Adam step (lr 1e-3) with the kernel set ``impl`` (models/adapters/jax_accel.py)."""
    net, params, batch = _conv(name, impl, benchmark, "train-step")
    benchmark(harness.train_step(net, params, batch, "adam", lr=1e-3))
