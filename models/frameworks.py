"""Import the frameworks lazily, once, with the settings parity needs.

Each ``load_<framework>()`` imports on first use and returns the module(s).  A missing
framework raises :class:`FrameworkMissing` naming the pip command that installs it.

Settings applied here, before any array or layer exists (the parity policy, README):

* JAX: ``jax_enable_x64`` (float64 arrays must stay float64) and matmul precision
  "highest" (no reduced-precision passes on accelerators).
* torch: TF32 off for matmul and cuDNN.
* TensorFlow: TF32 off; Keras runs on the TensorFlow backend unless ``KERAS_BACKEND``
  already names another.  Keras dtypes are set per layer (``dtype=`` on every layer),
  never through the global ``floatx``, so float32 and float64 models live side by side.
"""

from __future__ import annotations

import importlib
import os

INSTALL = {
    "jax": "pip install jax flax optax",
    "flax": "pip install flax",
    "optax": "pip install optax",
    "torch": "pip install torch",
    "tensorflow": "pip install tensorflow-cpu",
    "keras": "pip install keras tensorflow-cpu",
}


class FrameworkMissing(ImportError):
    """A framework a backend needs is not installed."""


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - exercised with a monkeypatched import
        top = name.split(".")[0]
        raise FrameworkMissing(
            f"the {top!r} package is needed for this backend but could not be imported "
            f"({exc}); install it with: {INSTALL.get(top, 'pip install ' + top)}"
        ) from exc


_done: set[str] = set()


def load_jax():
    """Return ``(jax, jnp)`` with x64 enabled and highest matmul precision."""
    jax = _import("jax")
    if "jax" not in _done:
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_default_matmul_precision", "highest")
        _done.add("jax")
    return jax, _import("jax.numpy")


def load_flax():
    """Return ``(jax, jnp, nnx, optax)``."""
    jax, jnp = load_jax()
    return jax, jnp, _import("flax.nnx"), _import("optax")


def load_torch():
    torch = _import("torch")
    if "torch" not in _done:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        _done.add("torch")
    return torch


def load_keras():
    """Return ``(keras, tf)``; TensorFlow is imported only here (it costs seconds)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras = _import("keras")
    tf = _import("tensorflow") if keras.backend.backend() == "tensorflow" else None
    if "keras" not in _done:
        if tf is not None:
            tf.config.experimental.enable_tensor_float_32_execution(False)
        _done.add("keras")
    return keras, tf
