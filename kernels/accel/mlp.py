"""The MLP n_in -> n_hidden (ReLU) -> n_out, fused by hand for XLA:CPU.

Same math as the NumPy reference (:mod:`models.mlp.mlp_numpy`, whose docstring derives
the backward pass), written as one function that returns the loss and every gradient.

Why it is faster than ``jax.value_and_grad`` of the Flax model
---------------------------------------------------------------
The full-batch step on 42,000 x 784 MNIST is 1.35 GFLOP, nearly all of it in two skinny
products with X: ``Z1 = X W1`` (n x 784 times 784 x 10) and ``dW1 = Xᵀ dZ1``.  XLA:CPU
runs them far below the machine's 217 GFLOP/s matmul peak (X @ W with 10 columns: 73
GFLOP/s), and ``Xᵀ dZ1`` reads X against its row-major layout.  Two changes, both exact:

1. **Both layouts of X.**  :func:`layouts` keeps ``X`` and a contiguous ``Xᵀ`` (made once
   per data set, like the data loading; it doubles X's memory), so ``Z1 = X W1`` and
   ``dW1 = Xᵀ dZ1`` are both plain row-major GEMMs.
2. **Hidden width padded to a multiple of 8** (10 -> 16) with zero columns in ``W1``/
   ``b1`` and zero rows in ``W2``.  The padded units have ``Z1 = 0``, so ReLU keeps them at
   0, their gradient mask ``1[Z1 > 0]`` is 0, and every padded gradient is exactly 0:
   slicing them off gives the reference's numbers bit for bit in the padded math.  The
   GEMM kernels run full 8/16-wide vector tiles instead of a 10-wide remainder.

Measured (2 cores, float32, medians, interleaved in one process; prototype of the
issue): plain ``jax.jit`` 31.7 ms per step, TF ``tf.function`` 24-26 ms; both layouts
19.9 ms; plus padding 17.0 ms (0.65x TF); plus many steps in one ``lax.scan``
(the JAX trainer's fused run, no host round trip and no re-dispatch) 15.7 ms per step.  This
implementation, interleaved with TF on a loaded machine: 0.61-0.63x TF per step with
glibc's default allocator, 0.67-0.71x with the tuned one (see the README's performance
section).  What did not help: a blocked
single pass over row blocks, uint8/bfloat16 storage of X, two host devices.

With ``gemm="onednn"`` (``impl="onednn"``) the two products with X go to oneDNN's GEMM
(:mod:`kernels.accel.gemm`) instead, at the real hidden width (oneDNN's brgemm needs no
padding): 8.8 -> 5.7 ms for ``X W1`` and 8.0 -> 4.6 ms for ``Xᵀ dZ1`` in isolation, and
19.0 -> 14.7 ms for the whole step against torch's 28.4 ms in one process (0.52x).

Shapes: ``x`` (n, n_in), ``xt`` (n_in, n) (the same numbers), ``y`` (n,) integer labels,
``params`` the canonical MLP parameters nested as ``{"dense1": {"kernel": (n_in, h),
"bias": (h,)}, "dense2": {"kernel": (h, n_out), "bias": (n_out,)}}`` (the JAX backend's
tree); gradients come back in the same structure.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

#: the hidden width is padded up to a multiple of this
LANE = 8


class Layouts(NamedTuple):
    """X twice: row-major ``x`` (n, n_in) and its contiguous transpose ``xt`` (n_in, n)."""

    x: jax.Array
    xt: jax.Array


def layouts(x) -> Layouts:
    """Both layouts of ``x`` (n, n_in) as device arrays; the transpose is made on the
    host once (inside a jit, XLA would fold it back into the product)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"fused MLP: x must have shape (n, n_in), got {x.shape}")
    return Layouts(jnp.asarray(x), jnp.asarray(np.ascontiguousarray(x.T)))


def padded_width(h: int) -> int:
    """``h`` rounded up to a multiple of :data:`LANE` (10 -> 16)."""
    return -(-int(h) // LANE) * LANE


def _pad(params):
    w1, b1 = params["dense1"]["kernel"], params["dense1"]["bias"]
    w2, b2 = params["dense2"]["kernel"], params["dense2"]["bias"]
    extra = padded_width(w1.shape[1]) - w1.shape[1]
    return (jnp.pad(w1, ((0, 0), (0, extra))), jnp.pad(b1, (0, extra)),
            jnp.pad(w2, ((0, extra), (0, 0))), b2)


#: how the two products with X are computed: XLA's dot on the padded hidden width, or
#: oneDNN's GEMM (:mod:`kernels.accel.gemm`) on the real width (float32; float64 falls
#: back to XLA's dot there)
GEMMS = ("xla", "onednn")


def _weights(params, gemm):
    if gemm not in GEMMS:
        raise ValueError(f"fused MLP: gemm={gemm!r}, expected one of {list(GEMMS)}")
    if gemm == "xla":
        return _pad(params)
    return (params["dense1"]["kernel"], params["dense1"]["bias"],
            params["dense2"]["kernel"], params["dense2"]["bias"])


def _times_x(x, w, gemm):
    """``x @ w`` for the first layer."""
    if gemm == "xla":
        return x @ w
    from kernels.accel.gemm import matmul

    return matmul(x, w)


def _x_transposed_times(x, xt, d, gemm):
    """``Xᵀ d``: from the transposed copy ``xt`` when there is one; with oneDNN and no
    copy (``xt=None``), from ``x`` read in its transposed layout."""
    if gemm == "xla":
        return (x.T if xt is None else xt) @ d
    from kernels.accel.gemm import matmul

    return matmul(x, d, True) if xt is None else matmul(xt, d)


def forward(params, x, gemm="xla"):
    """Logits (n, n_out) of ``x`` (n, n_in): ``relu(X W1 + b1) W2 + b2`` (with the hidden
    width padded for ``gemm="xla"``: exact, see the module docstring)."""
    w1, b1, w2, b2 = _weights(params, gemm)
    return jnp.maximum(_times_x(x, w1, gemm) + b1, 0) @ w2 + b2


def loss_and_grads(params, x, xt, y, gemm="xla", logits=False):
    """Mean softmax cross-entropy and its gradients (structured like ``params``), in one
    pass.

    Forward ``Z1 = X W1 + b1``, ``A1 = relu(Z1)``, ``Z2 = A1 W2 + b2``,
    ``L = mean(logsumexp(Z2) - Z2[y])``; backward ``dZ2 = (softmax(Z2) - onehot(y)) / n``,
    ``dW2 = A1ᵀ dZ2``, ``dZ1 = dZ2 W2ᵀ · 1[Z1 > 0]``, ``dW1 = (Xᵀ) dZ1`` read from the
    transposed copy ``xt`` (or, ``xt=None``, from ``x``).  ``gemm`` picks how the two
    products with X are computed (:data:`GEMMS`).  With ``logits=True`` the logits
    ``Z2`` (n, n_out) come back third (for accuracy, at no extra cost).  Traceable;
    shapes in the module docstring.
    """
    h = params["dense1"]["kernel"].shape[1]
    w1, b1, w2, b2 = _weights(params, gemm)
    n = x.shape[0]
    z1 = _times_x(x, w1, gemm) + b1                         # (n, hp)
    a1 = jnp.maximum(z1, 0)
    z2 = a1 @ w2 + b2                                       # (n, n_out)
    shifted = z2 - z2.max(axis=1, keepdims=True)
    e = jnp.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    t = jax.nn.one_hot(y, z2.shape[1], dtype=z2.dtype)
    loss = jnp.sum(jnp.log(s[:, 0]) - jnp.sum(shifted * t, axis=1)) / n
    dz2 = (e / s - t) / n
    dz1 = jnp.where(z1 > 0, dz2 @ w2.T, jnp.zeros((), z1.dtype))
    dw1 = _x_transposed_times(x, xt, dz1, gemm)             # (n_in, hp), contiguous reads
    grads = {"dense1": {"kernel": dw1[:, :h], "bias": dz1.sum(axis=0)[:h]},
             "dense2": {"kernel": (a1.T @ dz2)[:h], "bias": dz2.sum(axis=0)}}
    return (loss, grads, z2) if logits else (loss, grads)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def loss(params, x, xt, y, gemm="xla"):
    """Mean softmax cross-entropy, differentiable in ``params`` through the fused
    :func:`loss_and_grads` (a ``jax.custom_vjp``), so ``jax.value_and_grad`` and optax
    work on it unchanged.  ``x``, ``xt`` and ``y`` are data: their cotangent is zero
    (``xt`` may be None)."""
    return loss_and_grads(params, x, xt, y, gemm)[0]


def _loss_fwd(params, x, xt, y, gemm):
    value, grads = loss_and_grads(params, x, xt, y, gemm)
    return value, (grads, x, xt, y)


def _loss_bwd(gemm, res, g):
    grads, x, xt, y = res
    return (jax.tree.map(lambda d: g * d, grads), jnp.zeros_like(x),
            None if xt is None else jnp.zeros_like(xt),
            np.zeros(y.shape, dtype=jax.dtypes.float0))


loss.defvjp(_loss_fwd, _loss_bwd)
