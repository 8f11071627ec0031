"""The row-major matrix product through oneDNN, as an XLA FFI custom call, with its VJP.

Why: the MLP's step is two skinny products with the 42,000 x 784 MNIST matrix X, 10
columns wide (``X W1`` and ``Xᵀ dZ1``).  XLA:CPU's Eigen GEMM runs them at 75-82 GFLOP/s
(120-171 with the columns padded to 16); oneDNN's brgemm kernels, the ones PyTorch and
TensorFlow reach through MKL/oneDNN, at 115-144 GFLOP/s without any padding.  Measured
on this project's 2-core CPU (float32, tuned allocator, jitted, medians):
``X (42000x784) @ W (784x10)`` 8.8 -> 5.7 ms, ``Xᵀ (784x42000) @ dZ (42000x10)`` 8.0 ->
4.6 ms (torch: 9.2 and 6.9 ms).

:func:`matmul` computes ``a @ b`` (or ``aᵀ @ b`` from ``a`` as stored, with
``transpose_a=True``: oneDNN reads the transposed layout directly, no copy).  float32
2-D operands go to oneDNN; anything else (float64 above all) is ``jnp.matmul``, so
callers keep their float64 parity.  Differentiable in both operands (the VJP is two more
products of the same kind).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _direct(a, b) -> bool:
    return (a.ndim == 2 and b.ndim == 2 and a.dtype == jnp.float32
            and b.dtype == jnp.float32 and 0 not in a.shape and 0 not in b.shape)


def _call(a, b, transpose_a):
    from kernels.accel import native

    native.load("onednn")
    m = a.shape[1] if transpose_a else a.shape[0]
    out = jax.ShapeDtypeStruct((m, b.shape[1]), jnp.float32)
    return jax.ffi.ffi_call("mlsandbox_matmul", out, vmap_method="sequential")(
        a, b, ta=np.int64(bool(transpose_a)))


def matmul(a, b, transpose_a=False):
    """``a @ b``, or ``a.T @ b`` with ``transpose_a``; ``a`` (m, k) (or (k, m)), ``b``
    (k, n).  Returns (m, n)."""
    k = a.shape[0] if transpose_a else a.shape[-1]
    if a.ndim != 2 or b.ndim != 2 or k != b.shape[0]:
        raise ValueError(f"matmul: a {a.shape}{'ᵀ' if transpose_a else ''} and b {b.shape} "
                         "are not two matrices with a shared inner dimension")
    if not _direct(a, b):
        return (a.T if transpose_a else a) @ b
    return _matmul_onednn(a, b, bool(transpose_a))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _matmul_onednn(a, b, transpose_a):
    return _call(a, b, transpose_a)


def _fwd(a, b, transpose_a):
    return _call(a, b, transpose_a), (a, b)


def _bwd(transpose_a, res, g):
    a, b = res
    if transpose_a:                      # c = aᵀ b: da = b gᵀ, db = a g
        return b @ g.T, matmul(a, g)
    return g @ b.T, matmul(a, g, True)   # c = a b: da = g bᵀ, db = aᵀ g


_matmul_onednn.defvjp(_fwd, _bwd)
