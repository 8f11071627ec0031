"""Networks of ML Sandbox: one folder per network, one file per framework.

>>> import models
>>> spec = models.spec("mlp", n_in=64)
>>> params = spec.init(seed=0, dtype="float64")
>>> batch = spec.example(n=4, seed=0, dtype="float64")
>>> net = models.get("mlp", "numpy", n_in=64)
>>> net.forward(params, batch).shape
(4, 10)

Training goes through one trainer per framework (``net.trainer(params, "adam", lr=1e-3)``
then ``t.step(batch)``, ``t.run(batches)``, ``t.evaluate(batch)``, ``t.state()``), written
in that framework's adapter (``models/adapters/<framework>_adapter.py``); ``net.train``,
the engine, the benchmarks and the studies all call it.  What it minimizes is the spec's
:class:`Objective` (a loss kind and :class:`Penalty` terms), implemented once per adapter.

A new network is one folder ``models/<name>/`` (``spec.py`` with a :class:`Spec`
subclass, ``<name>_<backend>.py`` files each defining ``Network``) and one line in
:data:`REGISTRY`; the parity table picks it up from :data:`NETWORKS`.  A new framework is
one adapter in ``models/adapters/``, one file per network and one entry in
:data:`BACKENDS` (the README's "Extending" section lists the files).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import NamedTuple

from models.frameworks import FrameworkMissing
from models._network import Batch, Network, Trainer
from models._spec import IGNORE_INDEX, ContractError, Convention, Objective, Penalty, Spec
from models.checkpoint import load_checkpoint, save_checkpoint

BACKENDS = ("numpy", "jax", "torch", "keras")
#: the backend every other is compared with: the NumPy reference, hand-derived forward and
#: backward (also the slow column of every study)
REFERENCE = BACKENDS[0]

#: network name -> (package, spec class name)
REGISTRY = {
    "mlp": ("models.mlp", "MLPSpec"),
    "logreg": ("models.logreg", "LogRegSpec"),
    "densenet": ("models.densenet", "DenseNetSpec"),
    "tinyvgg": ("models.tinyvgg", "TinyVGGSpec"),
    "cnn": ("models.cnn", "CNNSpec"),
    "textclf": ("models.textclf", "TextClfSpec"),
    "bert_mlm": ("models.bert", "BertMLMSpec"),
    "bert_cls": ("models.bert", "BertClsSpec"),
}

NETWORKS = tuple(REGISTRY)


def _check_name(name: str) -> None:
    if name not in REGISTRY:
        raise KeyError(f"unknown network {name!r}; expected one of {list(NETWORKS)}")


def spec(name: str, **config) -> Spec:
    """The spec (config, parameter table, init, examples) of network ``name``."""
    _check_name(name)
    package, cls = REGISTRY[name]
    spec_cls = getattr(importlib.import_module(f"{package}.spec"), cls)
    try:
        return spec_cls(**config)
    except TypeError as exc:
        raise TypeError(f"{name}: bad config {config}: {exc}") from None


def _module_name(name: str, backend: str) -> str:
    package = REGISTRY[name][0]
    return f"{package}.{package.rsplit('.', 1)[-1]}_{backend}"


def available(name: str) -> tuple[str, ...]:
    """The backends network ``name`` is written in (a file ``<name>_<backend>.py`` each)."""
    _check_name(name)
    return tuple(b for b in BACKENDS if importlib.util.find_spec(_module_name(name, b)))


def get(name: str, backend: str, **config) -> Network:
    """Network ``name`` in framework ``backend``, built from ``spec(name, **config)``.

    Backend options (keys of the backend ``Network`` class's ``OPTIONS``, such as the
    JAX backend's ``impl="fused"``, see :mod:`kernels.accel`) are taken out of ``config``
    and passed to the network's constructor instead of the spec.
    """
    _check_name(name)
    if backend not in BACKENDS:
        raise KeyError(f"unknown backend {backend!r}; expected one of {list(BACKENDS)}")
    module_name = _module_name(name, backend)
    if importlib.util.find_spec(module_name) is None:
        spec(name, **config)  # a bad config is reported before a missing port
        raise NotImplementedError(f"{name} has no {backend} implementation yet "
                                  f"(available: {list(available(name))})")
    network_cls = importlib.import_module(module_name).Network
    declared = getattr(network_cls, "OPTIONS", {})
    options = {k: config.pop(k) for k in list(config) if k in declared}
    return network_cls(spec(name, **config), **options)


def from_pretrained(name: str, path, *, backend: str = "numpy", dtype="float32",
                    seed: int = 0, **config):
    """A pretrained checkpoint of network ``name`` from the local ``path`` (a Hugging Face
    model directory, ``config.json`` + ``model.safetensors``, or a ``.safetensors`` file):
    a named tuple ``(net, params, initialized, unused)``.

    ``net`` is ``models.get(name, backend, **config)`` with the config read from the
    checkpoint's ``config.json`` and ``config`` over it; ``params`` the canonical params in
    ``dtype`` (valid for every backend); ``initialized`` the names the checkpoint lacked and
    that were initialised as ``spec.init(seed, dtype, names=initialized)`` draws them (a new
    head); ``unused`` the
    checkpoint tensors the network has no place for.  A missing or mis-shaped tensor is
    refused by name.  Networks with checkpoints: the BERTs (``models/bert/pretrained.py``
    has the rules)."""
    _check_name(name)
    module = f"{REGISTRY[name][0]}.pretrained"
    if importlib.util.find_spec(module) is None:
        raise NotImplementedError(f"{name} reads no pretrained checkpoints")
    return importlib.import_module(module).load(name, path, backend=backend, dtype=dtype,
                                                seed=seed, **config)


class DataParallel(NamedTuple):
    """How a backend trains data-parallel (:meth:`Network.trainer` with ``devices=N``)."""

    #: the framework's own engine, or None where the backend trains on one device only
    engine: str | None
    #: one process per device, joined in a process group before the trainer is built
    processes: bool


def data_parallel(backend: str) -> DataParallel:
    """``backend``'s data-parallel engine, from its adapter (imports that framework)."""
    module = _adapter(backend)
    cls = next(c for c in vars(module).values() if isinstance(c, type)
               and issubclass(c, Network) and c.backend == backend)
    return DataParallel(cls.DATA_PARALLEL, cls.DATA_PARALLEL_PROCESSES)


def _adapter(backend: str):
    if backend not in BACKENDS:
        raise KeyError(f"unknown backend {backend!r}; expected one of {list(BACKENDS)}")
    return importlib.import_module(f"models.adapters.{backend}_adapter")


def environment(backend: str) -> dict:
    """Versions, device and thread counts of ``backend``'s framework (for benchmark
    records), from its adapter (imports that framework), and the instruction set it
    runs (``isa``: :func:`models.frameworks.isa_in_use`), the device it computes on
    (``device``: ``"cpu"`` or ``"gpu"``, :func:`models.frameworks.device`) and the
    float32 matmul mode (``matmul``: ``"exact"`` or ``"tf32"``)."""
    from models.frameworks import device, isa_in_use, matmul_mode

    info = _adapter(backend).environment()
    return {**info, "device": device(backend), "matmul": matmul_mode(),
            "isa": isa_in_use(backend)}


__all__ = ["BACKENDS", "IGNORE_INDEX", "NETWORKS", "REFERENCE", "REGISTRY", "Batch", "ContractError",
           "Convention", "FrameworkMissing", "Network", "Objective", "Penalty", "Spec",
           "DataParallel", "Trainer", "available", "data_parallel", "environment", "from_pretrained", "get", "spec",
           "load_checkpoint", "save_checkpoint"]
