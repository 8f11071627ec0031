"""Selecting the fast kernels: ``models.get(name, "jax", impl=...)``.

A JAX network opts in with one mixin placed before ``JaxNetwork`` in its bases::

    class Network(FusedMLP, JaxNetwork):      # models/mlp/mlp_jax.py
        module = MLP

The mixin declares ``OPTIONS = {"impl": (...)}``; :func:`models.get` splits declared
options off the config and passes them to the constructor, so ``impl`` never reaches the
spec.  ``impl="xla"`` leaves every method of ``JaxNetwork`` as it is (the Flax model as
its users write it); the fast names swap the computation while keeping the contract:
canonical params in, NumPy out, the same optax optimizers and canonical optimizer state.
"""

from __future__ import annotations

from kernels.accel import IMPLS


def _require_onednn(network: str) -> None:
    from kernels.accel import native

    reason = native.unavailable("onednn")
    if reason is not None:
        raise native.NativeUnavailable(f"{network}/jax impl='onednn': {reason}")


class _Selectable:
    """``impl`` checked against :data:`kernels.accel.IMPLS` for the network."""

    NETWORK = ""

    def __init__(self, spec, *, impl: str | None = None):
        super().__init__(spec)
        allowed = IMPLS[self.NETWORK]
        impl = allowed[0] if impl is None else impl
        if impl not in allowed:
            raise ValueError(f"{self.NETWORK}/jax: impl={impl!r} is not a kernel set of this "
                             f"network; expected one of {list(allowed)}")
        self.impl = impl

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, impl={self.impl!r})"


class FusedMLP(_Selectable):
    """``impl="fused"``: the MLP through :mod:`kernels.accel.mlp` -- the padded forward,
    the fused loss-and-gradients (a ``jax.custom_vjp``, so the adapter's optax step is
    unchanged), and full-batch training as one ``lax.scan`` over both layouts of X made
    once per :meth:`train` call.  ``impl="onednn"``: the same, with the two products with
    X through oneDNN's GEMM (:mod:`kernels.accel.gemm`; float32, else XLA's dot)."""

    NETWORK = "mlp"
    OPTIONS = {"impl": IMPLS["mlp"]}

    def __init__(self, spec, *, impl: str | None = None):
        super().__init__(spec, impl=impl)
        self.gemm = "onednn" if self.impl == "onednn" else "xla"
        if self.impl == "onednn":
            _require_onednn(spec.name)

    def apply_state(self, tree, x, train=False, masks=None, key=None):
        if self.impl == "xla":
            return super().apply_state(tree, x, train, masks, key)
        from kernels.accel import mlp

        return mlp.forward(tree, x, self.gemm), {}

    def loss_state(self, ptree, stree, x, y, train=False, masks=None, key=None):
        if self.impl == "xla":
            return super().loss_state(ptree, stree, x, y, train, masks, key)
        from kernels.accel import mlp

        # x.T inside a jit is folded back into the product by XLA, and oneDNN reads x in
        # its transposed layout (xt=None); the full-batch path in _train passes the real
        # transposed copy instead.
        return mlp.loss(ptree, x, x.T if self.gemm == "xla" else None, y, self.gemm), {}

    def _train(self, params, source, optimizer, hyper, opt_state):
        from models._network import Repeat

        if self.impl == "xla" or not isinstance(source, Repeat):
            return super()._train(params, source, optimizer, hyper, opt_state)
        import numpy as np

        from kernels.accel import mlp

        n = len(source)

        def make():
            tx = self.optimizer(optimizer, hyper)
            return tx, mlp.fit(tx, n, self.gemm)

        tx, run = self._jitted(("fused-fit", self.gemm, optimizer, tuple(sorted(hyper.items())),
                                n), make)
        ptree, _ = self._split(params)
        state = self.set_opt_state(tx.init(ptree), optimizer, opt_state)
        data = mlp.layouts(source.batch["x"])
        ptree, state, losses = run(ptree, state, data.x, data.xt,
                                   np.asarray(source.batch["y"]))
        canonical = self.get_opt_state(state, optimizer)
        canonical["step"] = np.array(int(opt_state["step"]) + n, dtype=np.int64)
        return self._flat(ptree, self.spec.trainable()), np.asarray(losses), canonical


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

    OPTIONS = {"impl": ("xla", "fast", "onednn")}

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
