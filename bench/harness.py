"""Timed callables for the benchmark suites: ``fn()`` runs one unit of work to completion.

Each builder returns a zero-argument function that does the work the way that
framework's experts would (jit / tf.function, donated buffers, tensors made once) and
blocks until the result is ready (``block_until_ready``, ``.numpy()``), so
pytest-benchmark times compute, not dispatch.  Compilation and the first call happen in
the builder, outside the timed region.
"""

from __future__ import annotations

import os
import platform

import numpy as np

from kernels import optim


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def allocator() -> str:
    """The allocator in force (see :mod:`mlsandbox.alloc`): tuned glibc, jemalloc, or
    glibc's default."""
    from mlsandbox.alloc import describe

    return describe()


def machine_info(backend: str) -> dict:
    """Device, versions and thread counts for ``benchmark.extra_info``."""
    import importlib.metadata as md

    info = {"cpu": _cpu_name(), "cores": os.cpu_count(), "allocator": allocator(),
            "numpy": np.__version__, "backend": backend}
    if backend == "jax":
        import jax

        info.update(jax=jax.__version__, device=str(jax.devices()[0]),
                    xla_flags=os.environ.get("XLA_FLAGS", ""))
    elif backend == "torch":
        import torch

        info.update(torch=torch.__version__, threads=torch.get_num_threads(), device="cpu")
    elif backend == "keras":
        import keras
        import tensorflow as tf

        info.update(keras=keras.__version__, tensorflow=tf.__version__,
                    intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                    device="cpu", onednn=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"))
    else:
        try:
            from threadpoolctl import threadpool_info

            info["blas"] = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
        except ImportError:  # pragma: no cover
            pass
        info["numpy_dist"] = md.version("numpy")
    return info


# -- forward -------------------------------------------------------------------------
def forward(net, params, x):
    """``fn()`` computing the logits of ``x`` (no gradient)."""
    backend = net.backend
    if backend == "numpy":
        return lambda: net.forward_cache(params, x)[0]
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        tree = net._tree(params)
        xj = jnp.asarray(x)
        fwd = jax.jit(net.apply)
        fwd(tree, xj).block_until_ready()
        return lambda: fwd(tree, xj).block_until_ready()
    if backend == "torch":
        import torch

        module = net.to_native(params).eval()
        xt = torch.from_numpy(x)

        def fn():
            with torch.inference_mode():
                return module(xt)

        fn()
        return fn
    if backend == "keras":
        import tensorflow as tf

        model = net.to_native(params)
        xt = tf.constant(x)
        call = tf.function(lambda v: model(v, training=False))
        call(xt)
        return lambda: call(xt).numpy()
    raise ValueError(f"no forward benchmark for backend {backend!r}")


# -- one training step, and a run of steps --------------------------------------------
def train_step(net, params, batch, optimizer="sgd", **hyper):
    """``fn()`` doing one update on ``batch`` (its state carried from call to call)."""
    return _trainer(net, params, batch, optimizer, hyper, steps=None)


def train_run(net, params, batch, steps, optimizer="sgd", **hyper):
    """``fn()`` doing ``steps`` updates on ``batch`` in one call (JAX: one lax.scan)."""
    return _trainer(net, params, batch, optimizer, hyper, steps=steps)


def _trainer(net, params, batch, optimizer, hyper, steps):
    hyper = optim.resolve(optimizer, hyper)
    backend = net.backend
    n = steps or 1
    x, y = batch["x"], batch["y"]
    if backend == "numpy":
        state = {"params": dict(params), "opt": optim.init(optimizer, params, hyper)}

        def fn():
            for _ in range(n):
                _, grads = net._loss_and_grads(state["params"], x, y)
                new, state["opt"] = optim.update(optimizer, state["params"], grads,
                                                 state["opt"], hyper)
                state["params"] = {**state["params"], **new}
        return fn
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        xj, yj = jnp.asarray(x), jnp.asarray(y)
        ptree, stree = net._split(params)
        key = jax.random.PRNGKey(0)
        if steps is None:
            tx, step = net.jit_step(optimizer, hyper)

            def call(p, s, o):
                return step(p, s, o, xj, yj, None, key)
        else:
            tx, run = net.run_fn(optimizer, hyper, steps=steps)
            keys = jax.random.split(key, steps)

            def call(p, s, o):
                return run(p, s, o, xj, yj, None, keys)
        carry = {"state": (ptree, stree, tx.init(ptree))}

        def fn():
            *carry["state"], loss = call(*carry["state"])
            loss.block_until_ready()

        fn()
        return fn
    if backend == "torch":
        import torch

        module = net.to_native(params).train()
        opt = net.optimizer(optimizer, hyper, module.parameters())
        xt, yt = torch.from_numpy(x), torch.from_numpy(np.asarray(y, np.int64))
        loss_fn = torch.nn.functional.cross_entropy

        def fn():
            for _ in range(n):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(module(xt), yt)
                loss.backward()
                opt.step()
            return loss

        return fn
    if backend == "keras":
        import tensorflow as tf

        dtype = x.dtype.name
        model = net.to_native(params)
        opt = net.optimizer(optimizer, hyper, dtype)
        trainable = model.trainable_variables
        opt.build(trainable)
        step = net.train_step(model, opt, net.loss_fn(dtype), trainable)
        xt, yt = tf.constant(x), tf.constant(y)

        def fn():
            for _ in range(n):
                loss = step(xt, yt, None)
            return loss.numpy()

        step(xt, yt, None).numpy()  # traces the tf.function
        return fn
    raise ValueError(f"no training benchmark for backend {backend!r}")
