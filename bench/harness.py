"""Timed callables for the benchmark suites: ``fn()`` runs one unit of work to completion.

Every builder goes through the network's own trainer (:meth:`models.Network.trainer`:
the one training step of each framework, jitted / ``tf.function`` / eager as its users
write it, the same step ``net.train`` and the engine take).  The batch is converted to the
framework's tensors once, outside the timed call (``t.put``, like data loading), and the
first call (compilation, tracing) happens in the builder.  Each ``fn()`` blocks until its
result is ready (reading the loss as a float synchronizes every framework), so
pytest-benchmark times compute, not dispatch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

import models
from mlsandbox import machine


def allocator() -> str:
    """The allocator in force (see :mod:`mlsandbox.alloc`): tuned glibc, jemalloc, or
    glibc's default."""
    from mlsandbox.alloc import describe

    return describe()


def machine_info(backend: str) -> dict:
    """CPU, allocator and the backend's versions, device and thread counts, for
    ``benchmark.extra_info`` (the load each benchmark ran under is added by the test
    plugin, :mod:`mlsandbox.testing.plugin`, as ``extra_info["load"]``)."""
    return {**machine.info(), "allocator": allocator(), "numpy": np.__version__,
            **models.environment(backend)}


def forward(net, params, x):
    """``fn()`` computing the eval-mode logits of ``x`` (no gradient): the input array,
    or a dict of the spec's inputs (BERT's ``input_ids``, ``attention_mask``, ...)."""
    t = net.trainer(params, "sgd", lr=0.0)
    inputs = {k: x[k] for k in net.spec.inputs()} if isinstance(x, Mapping) else {"x": x}
    b = t.put(inputs, labels=False)
    fn = lambda: t.predict(b)  # noqa: E731 - the trainer's predict blocks until ready
    fn()
    return fn


def train_step(net, params, batch, optimizer="sgd", **hyper):
    """``fn()`` doing one update on ``batch`` (its state carried from call to call)."""
    t = net.trainer(params, optimizer, **hyper)
    b = t.put(batch)

    def fn():
        return float(t.step(b)["loss"])

    fn()
    return fn


def train_run(net, params, batch, steps, optimizer="sgd", **hyper):
    """``fn()`` doing ``steps`` full-batch updates on ``batch`` in one call (JAX fuses
    them in one ``lax.scan``; the others loop over their step)."""
    t = net.trainer(params, optimizer, **hyper)
    b = t.put(batch)

    def fn():
        return t.run(b, steps=steps)[-1]

    fn()
    return fn
