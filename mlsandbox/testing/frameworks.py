"""Value and vector-Jacobian product of a function in each framework's own autodiff.

``vjp(framework, fn, inputs, cotangent) -> (output, grads)``: ``fn`` is written with that
framework's ops and takes framework tensors; ``inputs`` are NumPy arrays (the ones to
differentiate) and ``cotangent`` has the output's shape.  Integer inputs (labels) are
passed through ``consts`` and not differentiated.  TensorFlow's gradient of a gather (an
``IndexedSlices``) is made dense before it is read.
"""

from __future__ import annotations

import numpy as np

from models.frameworks import load_flax, load_keras, load_torch

FRAMEWORKS = ("jax", "torch", "tensorflow")


def vjp(framework: str, fn, inputs, cotangent, consts=()):
    if framework == "jax":
        jax, jnp, _, _ = load_flax()
        cs = [jnp.asarray(c) for c in consts]
        out, pullback = jax.vjp(lambda *xs: fn(*xs, *cs), *[jnp.asarray(a) for a in inputs])
        grads = pullback(jnp.asarray(cotangent, dtype=out.dtype))
        return np.asarray(out), [np.asarray(g) for g in grads]
    if framework == "torch":
        torch = load_torch()
        xs = [torch.tensor(a, requires_grad=True) for a in inputs]
        out = fn(*xs, *[torch.as_tensor(c) for c in consts])
        out.backward(torch.as_tensor(np.asarray(cotangent, dtype=out.detach().numpy().dtype)))
        return out.detach().numpy(), [x.grad.numpy() for x in xs]
    if framework == "tensorflow":
        _, tf = load_keras()
        xs = [tf.Variable(a) for a in inputs]
        with tf.GradientTape() as tape:
            out = fn(*xs, *[tf.constant(c) for c in consts])
        grads = tape.gradient(out, xs, output_gradients=tf.constant(cotangent, dtype=out.dtype))
        return out.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]
    raise ValueError(f"unknown framework {framework!r}; expected one of {FRAMEWORKS}")


def ops(framework: str):
    """The framework's own ops the kernels are compared with: name -> function."""
    if framework == "jax":
        jax, jnp, _, optax = load_flax()
        return {
            "dense": lambda x, w, b: jnp.matmul(x, w) + b,
            "relu": jax.nn.relu,
            "softmax": lambda z: jax.nn.softmax(z, axis=-1),
            "softmax_cross_entropy": lambda z, y: optax.softmax_cross_entropy_with_integer_labels(z, y).mean(),
        }
    if framework == "torch":
        torch = load_torch()
        F = torch.nn.functional
        return {
            "dense": lambda x, w, b: F.linear(x, w.T, b),
            "relu": torch.relu,
            "softmax": lambda z: torch.softmax(z, dim=-1),
            "softmax_cross_entropy": lambda z, y: F.cross_entropy(z, y.long()),
        }
    if framework == "tensorflow":
        _, tf = load_keras()
        return {
            "dense": lambda x, w, b: tf.matmul(x, w) + b,
            "relu": tf.nn.relu,
            "softmax": lambda z: tf.nn.softmax(z, axis=-1),
            "softmax_cross_entropy": lambda z, y: tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z)),
        }
    raise ValueError(f"unknown framework {framework!r}; expected one of {FRAMEWORKS}")
