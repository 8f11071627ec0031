"""The JAX backend's kernel sets: ``models.get(name, "jax", impl=...)``.

A JAX network opts in with one mixin placed before ``JaxNetwork`` in its bases::

    class Network(FusedMLP, JaxNetwork):      # models/mlp/mlp_jax.py
        module = MLP

The mixin declares ``OPTIONS = {"impl": (...)}``; :func:`models.get` splits declared
options off the config and passes them to the constructor, so ``impl`` never reaches the
spec.  ``impl="xla"`` leaves every method of ``JaxNetwork`` as it is (the Flax model as
its users write it); the fast names swap the computation of the forward pass and of the
objective's gradient (:meth:`JaxNetwork.grad_fn`), and keep everything else: the one
training step of :class:`~models.adapters.jax_adapter.JaxTrainer`, the optax optimizers,
the canonical params and optimizer state.  The kernels are in :mod:`kernels.accel`.
"""

from __future__ import annotations

import numpy as np

from models._spec import ContractError, Objective

#: network -> the ``impl=`` values its JAX backend accepts (the first is the default;
#: ``"auto"`` resolves to one of the others, :func:`auto_impl`)
IMPLS = {
    "mlp": ("xla", "fused", "onednn", "auto"),
    "tinyvgg": ("xla", "fast", "onednn", "auto"),
    "cnn": ("xla", "fast", "onednn", "auto"),
}

#: ``impl="auto"``: (network, vector ISA) -> the fastest kernel set for training, from
#: the measured medians (docs/performance.md): on AVX-512 oneDNN leads every step (MLP
#: 14.8 vs the fused XLA kernel's 19.1 ms, TinyVGG 12.6 vs 51.0, CNN 13.3 vs 44.1); on
#: AVX2 (an AMD EPYC Zen 3, and this machine capped to AVX2) the fused XLA MLP beats
#: oneDNN's GEMM (31.7 vs 47.6 ms) and oneDNN still leads the conv steps (54.2 vs 123.7,
#: 53.6 vs 132.5).  Where oneDNN cannot be built the pure-XLA set stands in.
AUTO = {("mlp", "avx512"): "onednn", ("mlp", "avx2"): "fused",
        ("tinyvgg", "avx512"): "onednn", ("tinyvgg", "avx2"): "onednn",
        ("cnn", "avx512"): "onednn", ("cnn", "avx2"): "onednn"}
#: without oneDNN (or off x86's AVX2/AVX-512): each network's pure-XLA set
AUTO_FALLBACK = {"mlp": "fused", "tinyvgg": "fast", "cnn": "fast"}


def machine_isa() -> str:
    """The vector ISA the kernels run with: the CPU's (:func:`kernels.cpu.vector_isa`),
    lowered to an instruction-set cap where one is set (``MLSANDBOX_MAX_ISA``)."""
    import os

    from kernels.cpu import vector_isa
    from models.frameworks import MAX_ISA_ENV

    isa, cap = vector_isa(), os.environ.get(MAX_ISA_ENV)
    return "avx2" if isa == "avx512" and cap == "avx2" else isa


#: on a GPU: the oneDNN sets (CPU custom calls) fall back to this one, and ``"auto"``
#: picks it: the Flax model as written, compiled by XLA for the GPU (the fused and fast
#: sets were tuned for CPU layouts and measured on CPUs only)
GPU_IMPL = "xla"


def on_gpu() -> bool:
    """Whether JAX computes on a GPU (:func:`models.frameworks.device`)."""
    from models.frameworks import device

    return device("jax") == "gpu"


def auto_impl(network: str) -> str:
    """The kernel set ``impl="auto"`` picks for ``network`` on this machine (:data:`AUTO`;
    :data:`GPU_IMPL` on a GPU)."""
    from kernels.accel import native

    if on_gpu():
        return GPU_IMPL
    impl = AUTO.get((network, machine_isa()), AUTO_FALLBACK[network])
    if impl == "onednn" and native.unavailable("onednn") is not None:
        impl = AUTO_FALLBACK[network]
    return impl


def _require_onednn(network: str) -> None:
    from kernels.accel import native

    reason = native.unavailable("onednn")
    if reason is not None:
        raise native.NativeUnavailable(f"{network}/jax impl='onednn': {reason}")


class _Selectable:
    """``impl`` checked against :data:`IMPLS` for the network."""

    NETWORK = ""

    def __init__(self, spec, *, impl: str | None = None):
        super().__init__(spec)
        allowed = IMPLS[self.NETWORK]
        impl = allowed[0] if impl is None else impl
        if impl not in allowed:
            raise ValueError(f"{self.NETWORK}/jax: impl={impl!r} is not a kernel set of this "
                             f"network; expected one of {list(allowed)}")
        if impl == "onednn" and on_gpu():
            import warnings

            warnings.warn(f"{self.NETWORK}/jax impl='onednn': oneDNN's kernels run on the "
                          f"CPU and JAX computes on a GPU here; impl={GPU_IMPL!r} runs "
                          f"instead", RuntimeWarning, stacklevel=3)
            impl = GPU_IMPL
        self.impl = auto_impl(self.NETWORK) if impl == "auto" else impl

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, impl={self.impl!r})"

    def check_parallel(self) -> None:
        """The kernel sets run on one device: their custom calls and layouts have no
        sharding rules."""
        if self.impl != "xla":
            raise ContractError(f"{self.NETWORK}/jax impl={self.impl!r} trains on one "
                                f"device; data-parallel training (devices > 1) runs "
                                f"impl='xla'")


class FusedMLP(_Selectable):
    """``impl="fused"``: the MLP through :mod:`kernels.accel.mlp` -- the padded forward
    and the hand-fused loss and gradients, with both layouts of X made once per batch
    (:meth:`device_arrays` adds the contiguous transpose ``"xt"``), so a full-batch run is
    the trainer's ``lax.scan`` over the fused step.  ``impl="onednn"``: the same, with the
    two products with X through oneDNN's GEMM (:mod:`kernels.accel.gemm`; float32, else
    XLA's dot).  The MLP's objective is plain softmax cross-entropy; another one is
    refused."""

    NETWORK = "mlp"
    OPTIONS = {"impl": IMPLS["mlp"]}

    def __init__(self, spec, *, impl: str | None = None):
        super().__init__(spec, impl=impl)
        self.gemm = "onednn" if self.impl == "onednn" else "xla"
        if self.impl == "onednn":
            _require_onednn(spec.name)
        if self.impl != "xla" and spec.objective() != Objective():
            raise ValueError(f"mlp/jax impl={self.impl!r} computes softmax cross-entropy "
                             f"without penalties, not {spec.objective()}")

    def apply_state(self, tree, inputs, train=False, masks=None, key=None):
        if self.impl == "xla":
            return super().apply_state(tree, inputs, train, masks, key)
        from kernels.accel import mlp

        return mlp.forward(tree, inputs[0], self.gemm), {}

    def device_arrays(self, arrays):
        out = super().device_arrays(arrays)
        if self.impl != "xla":
            import jax.numpy as jnp

            x = np.asarray(arrays["x"])
            out["xt"] = jnp.asarray(np.ascontiguousarray(np.swapaxes(x, -1, -2)))
        return out

    def grad_fn(self, ptree, stree, arrays, train, masks, key):
        if self.impl == "xla":
            return super().grad_fn(ptree, stree, arrays, train, masks, key)
        from kernels.accel import mlp

        loss, grads, logits = mlp.loss_and_grads(ptree, arrays["x"], arrays["xt"],
                                                 arrays["y"], self.gemm, logits=True)
        return (loss, (stree, logits)), grads


class FastConv(_Selectable):
    """The convolutional networks' kernel sets; the Flax module is built with the ops of
    :mod:`kernels.accel` passed to its constructor, everything else as written:

    * ``impl="fast"``: ``pool=`` :func:`kernels.accel.pool.max_pool_2x2` (pure XLA);
    * ``impl="onednn"``: oneDNN's kernels as XLA custom calls: ``block=``
      :func:`kernels.accel.conv.conv_relu` runs each convolution (all of them are
      followed by a ReLU here) with its bias and ReLU as one call, ``pool=``
      :func:`kernels.accel.pool.max_pool_2x2_onednn` (float32; other dtypes keep XLA's
      ops).

    One mixin for every conv network: it reads the name from the spec."""

    OPTIONS = {"impl": IMPLS["cnn"]}

    def __init__(self, spec, *, impl: str | None = None):
        self.NETWORK = spec.name
        super().__init__(spec, impl=impl)
        if self.impl == "onednn":
            _require_onednn(spec.name)

    def build(self, dtype, rngs):
        if self.impl == "xla":
            return super().build(dtype, rngs)
        from kernels.accel.pool import max_pool_2x2, max_pool_2x2_onednn

        ops = {"pool": max_pool_2x2}
        if self.impl == "onednn":
            from kernels.accel.conv import conv_relu

            ops.update(pool=max_pool_2x2_onednn, block=conv_relu)
        return self.module(self.spec, dtype=dtype, rngs=rngs, **ops)
