"""Primitive ops of ML Sandbox.

Two kinds live here:

* NumPy reference pairs: ``<op>_forward(...) -> (out, cache)`` and
  ``<op>_backward(dout, cache) -> grads``.  The math is derived in each docstring; the
  models' NumPy backends are compositions of these, and every other framework is checked
  against them.
* Accelerated JAX kernels (:mod:`kernels.accel`), selected by name so a Flax model can run
  with the plain op or a fast one without changing the model.

This package is ``kernels`` of ML Sandbox, not Hugging Face's ``kernels`` hub client;
``tests/test_packaging.py`` checks that transformers still imports beside it.
"""

from kernels.dense import dense_backward, dense_forward
from kernels.activations import relu_backward, relu_forward, softmax_backward, softmax_forward
from kernels.losses import (
    one_hot,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)

__all__ = [
    "dense_forward", "dense_backward",
    "relu_forward", "relu_backward",
    "softmax_forward", "softmax_backward",
    "one_hot", "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
]
