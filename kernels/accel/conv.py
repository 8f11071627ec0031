"""2-D convolution through oneDNN, called from XLA as an FFI custom call, with its VJP.

Same numbers as :func:`kernels.conv.conv2d_forward` / ``conv2d_backward`` (NHWC inputs,
HWIO kernels, strides, explicit or 'same'/'valid' zero padding); ``parity/test_accel.py``
checks them against that reference in float32 (1e-5, gradients 1e-4).

Why it is faster than ``lax.conv_general_dilated``
-------------------------------------------------
XLA:CPU lowers a convolution to Eigen's spatial convolution: an im2col-like packing plus
a GEMM, which with TinyVGG's 3 or 10 channels runs at 5-12 GFLOP/s, and whose gradients
(a convolution with the batch as contraction dimension for the kernel, a transposed
convolution for the input) are slower still.  TensorFlow and PyTorch call oneDNN's
direct JIT kernels instead, which vectorise over output channels and pixels with no
packing.  This module calls the same library: ``csrc/onednn.cc`` defines XLA FFI
handlers (forward, forward with bias and ReLU, backward data, backward weights) on
XLA's own NHWC buffers (no copies; only the few-kilobyte kernel is reordered into the
layout oneDNN asks for), and :func:`conv2d` / :func:`conv2d_bias_relu` tie them together
with a ``jax.custom_vjp``.  Measured on this project's
2-core CPU (float32, tuned allocator, jitted, medians; gradient = both VJPs of a sum of
``sin``): TinyVGG's first convolution (32 x 64x64x3 -> 10) 3.4 -> 0.8 ms forward,
34 -> 11 ms gradient; its second (32 x 62x62x10 -> 10) 4.0 -> 2.2 ms and 42 -> 12 ms;
the MNIST CNN's second (128 x 13x13x32 -> 64) 7.8 -> 2.4 ms and 42 -> 11 ms.  Whole
networks (``impl="onednn"``, with :func:`kernels.accel.pool.max_pool_2x2_onednn`):
TinyVGG's Adam step 51 -> 12.6 ms (TF 13.9), the MNIST CNN's 44 -> 13.3 ms (TF 15.9).

Scope
-----
float32 NHWC/HWIO convolutions without dilation or feature groups go to oneDNN; any
other call (float64 above all: oneDNN has no float64 convolution on CPU) is passed to
``lax.conv_general_dilated`` unchanged, so a network built with this op keeps its
float64 parity.  Reverse mode only (``jax.grad``, ``jax.vjp``); ``jax.vmap`` runs the
custom call once per mapped element.  The C++ source is compiled on first use
(:mod:`kernels.accel.native`); :func:`kernels.accel.native.unavailable` says why it
cannot be where it cannot.
"""

from __future__ import annotations

import ctypes
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

#: XLA's dimension numbers for NHWC inputs, HWIO kernels and NHWC outputs
NHWC_HWIO = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1),
                                     out_spec=(0, 3, 1, 2))


def _library():
    from kernels.accel import native

    return native.load("onednn")


def _output_shape(x_shape, w_shape, strides, padding):
    n, h, w, _ = x_shape
    kh, kw, _, o = w_shape
    (pt, pb), (pl, pr) = padding
    return (n, (h + pt + pb - kh) // strides[0] + 1, (w + pl + pr - kw) // strides[1] + 1, o)


def _attrs(strides, padding):
    (pt, pb), (pl, pr) = padding
    return {k: np.int64(v) for k, v in
            dict(sh=strides[0], sw=strides[1], pt=pt, pb=pb, pl=pl, pr=pr).items()}


def _call(target, shape, dtype, *args, strides, padding):
    _library()
    out = jax.ShapeDtypeStruct(shape, dtype)
    return jax.ffi.ffi_call(target, out, vmap_method="sequential")(
        *args, **_attrs(strides, padding))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d(x, w, strides=(1, 1), padding=((0, 0), (0, 0))):
    """``y[n, i, j, o] = sum_{a, b, c} xpad[n, s0*i + a, s1*j + b, c] * w[a, b, c, o]``.

    ``x`` (n, H, W, C) and ``w`` (kh, kw, C, O) float32; ``strides`` (s0, s1);
    ``padding`` ((top, bottom), (left, right)) zeros.  Returns (n, OH, OW, O)."""
    strides, padding = _normalise(strides, padding)
    return _call("mlsandbox_conv_fwd", _output_shape(x.shape, w.shape, strides, padding),
                 x.dtype, x, w, strides=strides, padding=padding)


def _fwd(x, w, strides, padding):
    return conv2d(x, w, strides, padding), (x, w)


def _bwd(strides, padding, res, dy):
    x, w = res
    strides, padding = _normalise(strides, padding)
    dx = _call("mlsandbox_conv_bwd_data", x.shape, x.dtype, dy, w,
               strides=strides, padding=padding)
    dw = _call("mlsandbox_conv_bwd_weights", w.shape, w.dtype, x, dy,
               strides=strides, padding=padding)
    return dx, dw


conv2d.defvjp(_fwd, _bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def conv2d_bias_relu(x, w, b, strides=(1, 1), padding=((0, 0), (0, 0))):
    """``relu(conv2d(x, w, strides, padding) + b)`` in one oneDNN call (a ReLU post-op
    on the convolution with bias), as TensorFlow's fused ``Conv2D + BiasAdd + Relu``;
    ``b`` (O,).  The gradient masks ``dy`` with ``y > 0`` (the reference's ``z > 0``)
    and runs the two backward convolutions on it; ``db`` is its sum over n, H, W."""
    strides, padding = _normalise(strides, padding)
    return _call("mlsandbox_conv_bias_relu_fwd",
                 _output_shape(x.shape, w.shape, strides, padding), x.dtype, x, w, b,
                 strides=strides, padding=padding)


def _fwd_bias_relu(x, w, b, strides, padding):
    y = conv2d_bias_relu(x, w, b, strides, padding)
    return y, (x, w, y)


def _bwd_bias_relu(strides, padding, res, dy):
    x, w, y = res
    dz = jnp.where(y > 0, dy, jnp.zeros((), dy.dtype))
    dx, dw = _bwd(strides, padding, (x, w), dz)
    return dx, dw, jnp.sum(dz, axis=(0, 1, 2))


conv2d_bias_relu.defvjp(_fwd_bias_relu, _bwd_bias_relu)


def conv_relu(conv, x):
    """``relu(conv(x))`` for an ``nnx.Conv`` with a bias: one :func:`conv2d_bias_relu`
    call where that computes it (float32 input and parameters, no mask, dilation or
    groups), ``jax.nn.relu(conv(x))`` otherwise.  The conv networks' ``block=`` op."""
    kernel = conv.kernel[...]
    bias = conv.bias[...] if conv.bias is not None else None
    strides = conv.strides if conv.strides is not None else 1
    strides = (strides,) * 2 if isinstance(strides, int) else tuple(strides)
    padding = conv.padding
    usable = (bias is not None and conv.mask is None and isinstance(padding, str)
              and padding.upper() in ("SAME", "VALID") and len(strides) == 2
              and conv.input_dilation in (1, None, (1, 1))
              and conv.kernel_dilation in (1, None, (1, 1))
              and x.dtype == kernel.dtype == bias.dtype == jnp.float32
              and _direct(x, kernel, ("NHWC", "HWIO", "NHWC"), None, None,
                          conv.feature_group_count, 1, None))
    if not usable:
        return jax.nn.relu(conv(x))
    pads = lax.padtype_to_pads(x.shape[1:3], kernel.shape[:2], strides, padding.upper())
    return conv2d_bias_relu(x, kernel, bias, strides, tuple(map(tuple, pads)))


def _normalise(strides, padding):
    strides = tuple(int(s) for s in strides)
    padding = tuple((int(lo), int(hi)) for lo, hi in padding)
    if len(strides) != 2 or len(padding) != 2 or min(strides) < 1 or \
            min(v for p in padding for v in p) < 0:
        raise ValueError(f"conv2d: strides must be 2 positive ints and padding 2 pairs of "
                         f"non-negative ints; got strides={strides}, padding={padding}")
    return strides, padding


def _direct(lhs, rhs, dimension_numbers, lhs_dilation, rhs_dilation, feature_group_count,
            batch_group_count, preferred_element_type) -> bool:
    """Whether a ``conv_general_dilated`` call is one :func:`conv2d` computes."""
    if lhs.ndim != 4 or rhs.ndim != 4:
        return False
    if lhs.dtype != jnp.float32 or rhs.dtype != jnp.float32:
        return False
    if preferred_element_type not in (None, jnp.float32):
        return False
    if feature_group_count != 1 or batch_group_count != 1:
        return False
    if any(d != 1 for d in (lhs_dilation or (1, 1))) or \
            any(d != 1 for d in (rhs_dilation or (1, 1))):
        return False
    if 0 in lhs.shape or 0 in rhs.shape:
        return False
    dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    return dn == NHWC_HWIO


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None,
                         **kwargs):
    """Drop-in for ``lax.conv_general_dilated`` (``nnx.Conv(conv_general_dilated=...)``,
    for a convolution not followed by a ReLU, which this project's networks do not have):
    float32 NHWC/HWIO convolutions without dilation or groups run :func:`conv2d`, every
    other call goes to ``lax.conv_general_dilated`` as given (with any further keyword,
    such as ``out_sharding``; a sharded output also keeps XLA's convolution)."""
    if any(v is not None for v in kwargs.values()) or not _direct(
            lhs, rhs, dimension_numbers, lhs_dilation, rhs_dilation, feature_group_count,
            batch_group_count, preferred_element_type):
        return lax.conv_general_dilated(
            lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
            feature_group_count=feature_group_count, batch_group_count=batch_group_count,
            precision=precision, preferred_element_type=preferred_element_type, **kwargs)
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
    return conv2d(lhs, rhs, tuple(window_strides), tuple(map(tuple, padding)))


def implementation(kind: str, x_shape, w_shape, strides=(1, 1),
                   padding=((0, 0), (0, 0))) -> str:
    """The oneDNN implementation that runs a convolution of these shapes, e.g.
    ``"jit:avx512_core"`` (``"ref:any"`` would be its slow reference loop); ``kind`` is
    ``"forward"``, ``"backward_data"`` or ``"backward_weights"``."""
    codes = {"forward": b"f", "backward_data": b"d", "backward_weights": b"w"}
    if kind not in codes:
        raise ValueError(f"kind must be one of {list(codes)}, got {kind!r}")
    strides, padding = _normalise(strides, padding)
    y = _output_shape(x_shape, w_shape, strides, padding)
    geometry = (*x_shape, w_shape[0], w_shape[1], w_shape[3], y[1], y[2], *strides,
                *padding[0], *padding[1])
    buf = ctypes.create_string_buffer(256)
    fn = _library().mlsandbox_conv_impl
    fn.argtypes = [ctypes.c_char, ctypes.POINTER(ctypes.c_int64), ctypes.c_char_p,
                   ctypes.c_int]
    fn(codes[kind], (ctypes.c_int64 * 15)(*geometry), buf, len(buf))
    return buf.value.decode()
