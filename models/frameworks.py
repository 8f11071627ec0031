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
* The device (:func:`device`, ``MLSANDBOX_DEVICE``): ``auto`` (the default) computes on
  a GPU where the framework sees one and on the CPU elsewhere; ``cpu`` hides the GPUs;
  ``gpu`` refuses to run without one (:class:`NoGpu`).
* The matmul mode (:func:`matmul_mode`, ``MLSANDBOX_MATMUL``): ``exact`` (the default,
  what parity runs in) keeps TF32 off and JAX's matmul precision "highest"; ``tf32``
  (for speed on NVIDIA GPUs) turns TF32 on in torch, TensorFlow and JAX alike.  It
  changes nothing on a CPU.
* Simulated CPU devices for data-parallel runs (:func:`cpu_devices`, or the environment
  variable ``MLSANDBOX_CPU_DEVICES=N`` that child processes inherit): JAX's
  ``jax_num_cpu_devices`` and TensorFlow's logical CPU devices, set before either
  framework creates its first array.
* An instruction-set cap (:func:`cap_isa`, or ``MLSANDBOX_MAX_ISA=avx2``): oneDNN's
  ``ONEDNN_MAX_CPU_ISA`` (torch's, TensorFlow's and our kernels' oneDNN alike), ATen's
  ``ATEN_CPU_CAPABILITY`` and XLA's ``--xla_cpu_max_isa``, so that an AVX-512 machine
  runs what an AVX2 one runs.  Set before the frameworks start (this module applies the
  environment variable when it is imported; :func:`isa_in_use` reports what each
  framework took).
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

#: the environment variable choosing the device every framework computes on
DEVICE_ENV = "MLSANDBOX_DEVICE"
#: its values
DEVICE_CHOICES = ("auto", "cpu", "gpu")
#: the environment variable choosing the float32 matmul mode, and its values
MATMUL_ENV = "MLSANDBOX_MATMUL"
MATMUL_MODES = {
    "exact": "float32 matmuls and convolutions in full float32, TF32 off (parity)",
    "tf32": "TF32 on NVIDIA GPUs for float32 matmuls and convolutions (speed)",
}


class NoGpu(RuntimeError):
    """``MLSANDBOX_DEVICE=gpu``, and the framework sees no GPU."""


def _choice(env: str, allowed) -> str:
    default = next(iter(allowed))
    value = os.environ.get(env, "") or default
    if value not in allowed:
        raise ValueError(f"{env}={value!r}: expected one of {list(allowed)}")
    return value


def wanted_device() -> str:
    """``MLSANDBOX_DEVICE``: ``"auto"`` (unset), ``"cpu"`` or ``"gpu"``."""
    return _choice(DEVICE_ENV, DEVICE_CHOICES)


def matmul_mode() -> str:
    """``MLSANDBOX_MATMUL``: ``"exact"`` (unset) or ``"tf32"``."""
    return _choice(MATMUL_ENV, MATMUL_MODES)


def _no_gpu(framework: str, why: str) -> NoGpu:
    return NoGpu(f"{DEVICE_ENV}=gpu, but {framework} sees no GPU ({why}); unset it, or "
                 f"set {DEVICE_ENV}=cpu, or install {framework}'s CUDA build")


def device(backend: str) -> str:
    """The device ``backend``'s framework computes on: ``"gpu"`` or ``"cpu"`` (starts
    the framework).  :class:`NoGpu` where ``MLSANDBOX_DEVICE=gpu`` finds none."""
    if backend == "numpy":
        found = "cpu"
    elif backend == "jax":
        jax, _ = load_jax()
        found = "gpu" if jax.default_backend() in ("gpu", "cuda", "rocm") else "cpu"
    elif backend == "torch":
        found = "gpu" if torch_device().type == "cuda" else "cpu"
    elif backend == "keras":
        _, tf = load_keras()
        found = "gpu" if tf is not None and tf.config.list_logical_devices("GPU") else "cpu"
    else:
        raise KeyError(f"unknown backend {backend!r}")
    if found == "cpu" and wanted_device() == "gpu":
        raise _no_gpu(backend, f"it computes on {found}")
    return found


def torch_device():
    """The ``torch.device`` the torch backend puts its modules and tensors on: this
    process's CUDA device (a rank's own under DDP) unless ``MLSANDBOX_DEVICE=cpu`` or
    none is there."""
    torch = load_torch()
    wanted = wanted_device()
    if wanted != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if wanted == "gpu":
        raise _no_gpu("torch", "torch.cuda.is_available() is False")
    return torch.device("cpu")

#: the environment variable naming an instruction-set cap for every framework
MAX_ISA_ENV = "MLSANDBOX_MAX_ISA"
#: cap -> (oneDNN's ONEDNN_MAX_CPU_ISA, ATen's ATEN_CPU_CAPABILITY, XLA's --xla_cpu_max_isa)
ISA_CAPS = {"avx2": ("AVX2", "avx2", "AVX2"), "avx512": ("AVX512_CORE", "avx512", "AVX512")}


def cap_isa(isa: str) -> dict[str, str]:
    """Cap every framework's instruction set at ``isa`` (``"avx2"`` or ``"avx512"``) in
    this process and its children; the environment it set.  Frameworks started already
    keep what they chose (:func:`isa_in_use` tells)."""
    if isa not in ISA_CAPS:
        raise ValueError(f"unknown instruction-set cap {isa!r}; expected one of "
                         f"{list(ISA_CAPS)}")
    onednn, aten, xla = ISA_CAPS[isa]
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_cpu_max_isa=")]
    env = {MAX_ISA_ENV: isa, "ONEDNN_MAX_CPU_ISA": onednn, "ATEN_CPU_CAPABILITY": aten,
           "XLA_FLAGS": " ".join([*flags, f"--xla_cpu_max_isa={xla}"])}
    os.environ.update(env)
    return env


def isa_in_use(backend: str) -> str:
    """The instruction set ``backend``'s framework runs its CPU kernels with: ATen's
    capability for torch, the cap XLA and oneDNN were given (else the CPU's own)."""
    if backend == "torch":
        return load_torch().backends.cpu.get_cpu_capability().lower()
    cap = None
    if backend == "jax":
        cap = next((f.split("=", 1)[1] for f in os.environ.get("XLA_FLAGS", "").split()
                    if f.startswith("--xla_cpu_max_isa=")), None)
    elif backend == "keras":
        cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return cap.lower() if cap else "native"


if os.environ.get(MAX_ISA_ENV):
    cap_isa(os.environ[MAX_ISA_ENV])

#: the environment variable that carries :func:`cpu_devices` into child processes
CPU_DEVICES_ENV = "MLSANDBOX_CPU_DEVICES"


class DevicesLocked(RuntimeError):
    """A framework has created its devices already; their number can no longer change."""


def cpu_devices(n: int, backends=("jax", "keras")) -> None:
    """Simulate ``n`` CPU devices in JAX and TensorFlow (data-parallel runs on a machine
    without accelerators).  Call it before the first array is made; frameworks imported
    later read it too, and so do child processes (``MLSANDBOX_CPU_DEVICES``).  Of the
    frameworks started already, those of ``backends`` are set now (torch's devices are
    processes: nothing to set)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"cpu_devices needs an integer >= 1, got {n!r}")
    os.environ[CPU_DEVICES_ENV] = str(n)
    if "jax" in _done and "jax" in backends:
        _jax_devices(importlib.import_module("jax"))
    if "keras" in _done and "keras" in backends:
        _tf_devices(importlib.import_module("tensorflow"))


def _wanted_cpu_devices() -> int | None:
    text = os.environ.get(CPU_DEVICES_ENV)
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{CPU_DEVICES_ENV}={text!r}: expected an integer >= 1")
    return int(text)


def _jax_devices(jax) -> None:
    n = _wanted_cpu_devices()
    if n is None or jax.config.jax_num_cpu_devices == n:
        return
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as exc:
        raise DevicesLocked(f"JAX has started its CPU backend already, with "
                            f"{jax.local_device_count()} device(s); set "
                            f"{CPU_DEVICES_ENV}={n} (or call models.frameworks."
                            f"cpu_devices({n})) before the first JAX array") from exc


def _tf_devices(tf) -> None:
    n = _wanted_cpu_devices()
    if n is None:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as exc:
        have = len(tf.config.list_logical_devices("CPU"))
        raise DevicesLocked(f"TensorFlow has started its runtime already, with {have} "
                            f"logical CPU device(s); set {CPU_DEVICES_ENV}={n} (or call "
                            f"models.frameworks.cpu_devices({n})) before the first "
                            f"TensorFlow op") from exc


def load_jax():
    """Return ``(jax, jnp)`` with x64 enabled and highest matmul precision."""
    jax = _import("jax")
    if "jax" not in _done:
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_default_matmul_precision",
                          "tensorfloat32" if matmul_mode() == "tf32" else "highest")
        if wanted_device() == "cpu":
            jax.config.update("jax_platforms", "cpu")
        _jax_devices(jax)
        _done.add("jax")
    return jax, _import("jax.numpy")


def join_jax_processes(coordinator: str, num_processes: int, process_id: int):
    """Join a multi-process JAX run (``jax.distributed.initialize``) before the first JAX
    array: every process's devices form one device list, so a data-parallel trainer's
    mesh spans them all.  On CPU the collectives go over gloo.  Returns ``jax``."""
    jax, _ = load_jax()
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices only
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
    return jax


def load_flax():
    """Return ``(jax, jnp, nnx, optax)``."""
    jax, jnp = load_jax()
    return jax, jnp, _import("flax.nnx"), _import("optax")


def load_torch():
    torch = _import("torch")
    if "torch" not in _done:
        tf32 = matmul_mode() == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
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
            tf.config.experimental.enable_tensor_float_32_execution(matmul_mode() == "tf32")
            wanted = wanted_device()
            if wanted == "cpu":
                tf.config.set_visible_devices([], "GPU")
            elif wanted == "gpu" and not tf.config.list_physical_devices("GPU"):
                raise _no_gpu("TensorFlow", "tf.config.list_physical_devices('GPU') is "
                                            "empty")
            _tf_devices(tf)
        _done.add("keras")
    return keras, tf
