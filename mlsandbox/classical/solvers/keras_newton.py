"""Keras solver: Newton with gradient and Hessian from nested ``tf.GradientTape`` in one
``tf.function`` (TensorFlow backend).

The loss is Keras's own ``keras.losses.binary_crossentropy(from_logits=True)`` and
``sparse_categorical_crossentropy(from_logits=True)`` on ``keras.ops`` logits; the outer
tape's ``jacobian`` differentiates the inner tape's gradient (TensorFlow's fused sparse
softmax cross-entropy has a second derivative under ``GradientTape``, checked against
the reference in ``parity/test_logreg.py::test_hessian``).
The function is traced once per (binary?, fit_intercept) with ``None`` dimensions, so new
data shapes cost no retracing.  The loop is the shared
:func:`mlsandbox.classical.solvers.newton.newton`.

:func:`fit_cg` (Newton-CG, :func:`mlsandbox.classical.solvers.newton.newton_cg`) takes X
as ``tf.sparse.SparseTensor``: the same ``objective`` and Keras losses, ``keras.ops.matmul``
dispatching to ``tf.sparse.sparse_dense_matmul`` (whose gradient is again a sparse
product, so it has a second derivative).  The Hessian-vector product is the gradient of
``⟨g, v⟩`` under nested tapes, one ``tf.function`` with ``None`` dimensions (traced once
per (k, fit_intercept)); each product re-runs the forward pass (four sparse products).
"""

from __future__ import annotations

import functools

import numpy as np

from kernels.logistic import l2_strength
from mlsandbox.classical.solvers.newton import newton, newton_cg, null_direction, split
from models.frameworks import load_keras

keras, tf = load_keras()
ops = keras.ops


def objective(theta, x, y, C, k: int, fit_intercept: bool):
    """Penalized mean cross-entropy of flat ``theta``; ``y`` (n,) float 0/1 for k = 1,
    else integer class ids."""
    n, d = ops.shape(x)[0], ops.shape(x)[1]
    t = ops.reshape(theta, (-1, k))
    w = t[:d]
    z = ops.matmul(x, w) + (t[d] if fit_intercept else 0.0)
    if k == 1:
        ce = keras.losses.binary_crossentropy(y[:, None], z, from_logits=True)
    else:
        ce = keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True)
    return ops.mean(ce) + l2_strength(C, ops.cast(n, x.dtype)) * ops.sum(w * w)


@functools.lru_cache(maxsize=None)
def _functions(k: int, fit_intercept: bool):
    spec = [tf.TensorSpec([None], tf.float64), tf.TensorSpec([None, None], tf.float64),
            tf.TensorSpec([None], tf.float64 if k == 1 else tf.int64),
            tf.TensorSpec([], tf.float64)]

    @tf.function(input_signature=spec)
    def value(theta, x, y, C):
        return objective(theta, x, y, C, k, fit_intercept)

    @tf.function(input_signature=spec)
    def value_grad_hess(theta, x, y, C):
        with tf.GradientTape() as outer:
            outer.watch(theta)
            with tf.GradientTape() as inner:
                inner.watch(theta)
                f = objective(theta, x, y, C, k, fit_intercept)
            g = inner.gradient(f, theta)
        return f, g, outer.jacobian(g, theta)

    return value, value_grad_hess


def fit(X, y, n_out, *, C, fit_intercept, tol, max_iter):
    x = tf.constant(np.asarray(X, dtype=np.float64))
    y = np.asarray(y)
    yt = tf.constant(y.astype(np.float64 if n_out == 1 else np.int64))
    c = tf.constant(C, tf.float64)
    d, k = x.shape[1], n_out
    value, value_grad_hess = _functions(k, bool(fit_intercept))

    def fun(theta):
        return float(value(tf.constant(theta), x, yt, c))

    def fun_grad_hess(theta):
        f, g, h = value_grad_hess(tf.constant(theta), x, yt, c)
        return float(f), g.numpy(), h.numpy()

    theta, n_iter, ok = newton(fun, fun_grad_hess, np.zeros((d + fit_intercept) * k),
                               tol=tol, max_iter=max_iter,
                               null=null_direction(d, k, fit_intercept))
    return (*split(theta, d, k, fit_intercept), n_iter, ok)


@functools.lru_cache(maxsize=None)
def _cg_functions(k: int, fit_intercept: bool):
    spec = [tf.TensorSpec([None], tf.float64), tf.SparseTensorSpec([None, None], tf.float64),
            tf.TensorSpec([None], tf.float64 if k == 1 else tf.int64),
            tf.TensorSpec([], tf.float64)]

    @tf.function(input_signature=spec)
    def value(theta, x, y, C):
        return objective(theta, x, y, C, k, fit_intercept)

    @tf.function(input_signature=spec)
    def value_grad(theta, x, y, C):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            f = objective(theta, x, y, C, k, fit_intercept)
        return f, tape.gradient(f, theta)

    @tf.function(input_signature=spec[:1] + spec)
    def hvp(v, theta, x, y, C):
        with tf.GradientTape() as outer:
            outer.watch(theta)
            with tf.GradientTape() as inner:
                inner.watch(theta)
                f = objective(theta, x, y, C, k, fit_intercept)
            gv = tf.reduce_sum(inner.gradient(f, theta) * v)
        return outer.gradient(gv, theta)

    return value, value_grad, hvp


def fit_cg(X, y, n_out, *, C, fit_intercept, tol, max_iter):
    """Newton-CG; ``X`` scipy.sparse CSR float64 (canonical, so row-major ordered)."""
    coo = X.tocoo()
    x = tf.sparse.SparseTensor(np.stack([coo.row, coo.col], 1).astype(np.int64),
                               coo.data, coo.shape)
    yt = tf.constant(np.asarray(y).astype(np.float64 if n_out == 1 else np.int64))
    c = tf.constant(C, tf.float64)
    d, k = X.shape[1], n_out
    value, value_grad, hvp = _cg_functions(k, bool(fit_intercept))

    def fun(theta):
        return float(value(tf.constant(theta), x, yt, c))

    def fun_grad_hessp(theta):
        t = tf.constant(theta)
        f, g = value_grad(t, x, yt, c)

        def hessp(v):
            return hvp(tf.constant(v), t, x, yt, c).numpy()
        return float(f), g.numpy(), hessp

    theta, n_iter, ok = newton_cg(fun, fun_grad_hessp, np.zeros((d + fit_intercept) * k),
                                  tol=tol, max_iter=max_iter,
                                  null=null_direction(d, k, fit_intercept))
    return (*split(theta, d, k, fit_intercept), n_iter, ok)
