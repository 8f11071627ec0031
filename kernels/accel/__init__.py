"""Fast JAX kernels: the same math as the NumPy references in :mod:`kernels`, laid out
so that XLA:CPU runs it faster than the plain Flax model does.

Each kernel states in its docstring why it is faster, with the figure measured on this
project's 2-core CPU, and is checked against the NumPy reference by
``parity/test_accel.py`` (float64 1e-10, float32 1e-5 / gradients 1e-4).

A JAX network selects a kernel set with a backend option::

    >>> import models
    >>> net = models.get("mlp", "jax", n_in=784, impl="fused")   # doctest: +SKIP

``impl="xla"`` (the default) is the Flax model as its users write it; the other names are
listed per network in ``models.adapters.jax_accel.IMPLS``, which also holds the selection
glue (this ground floor knows no network); the kernels here are plain functions of arrays:

* :mod:`kernels.accel.mlp` -- the MLP's hand-written fused loss and gradients (both
  layouts of X, hidden width padded to a multiple of 8);
* :mod:`kernels.accel.pool` -- 2x2/stride-2 max pooling: ``reduce_window``'s forward
  with a hand-written, fusible backward in place of ``select_and_scatter`` (first maximum
  wins, as everywhere);
* :mod:`kernels.accel.conv` -- oneDNN's direct convolutions (forward, forward with bias
  and ReLU, both backward convolutions) as XLA FFI custom calls with a ``custom_vjp``;
* :mod:`kernels.accel.gemm` -- oneDNN's GEMM for the MLP's skinny products with X;
* :mod:`kernels.accel.native` -- finds oneDNN, compiles ``csrc/onednn.cc`` on first use
  into a cache and registers its FFI targets.

Kernel sets: ``mlp`` ``"fused"`` (pure XLA) and ``"onednn"`` (the same fused kernel, the
products with X through oneDNN); ``tinyvgg``/``cnn`` ``"fast"`` (pure XLA: the pool) and
``"onednn"`` (the pool and oneDNN's convolutions).  The oneDNN sets are float32 kernels;
float64 calls fall back to XLA's ops inside them, so every set keeps float64 parity.
"""

from __future__ import annotations
