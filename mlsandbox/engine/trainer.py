"""The interface every backend's trainer implements, and the registry of them."""

from __future__ import annotations

import importlib

import numpy as np

from kernels import optim


class Trainer:
    """One network in one framework, holding its native parameters and optimizer state.

    Built from canonical ``params`` and a canonical ``opt_state``
    (:func:`kernels.optim.init` for a fresh run); :meth:`state` gives both back in
    canonical form.  ``train_step``/``eval_step`` take one batch ``x`` (n, ...) float,
    ``y`` (n,) int64 and return ``(mean loss, number correct)``; they may return
    framework scalars (the loop converts them when it needs numbers, so JAX steps are
    not synchronised one by one).
    """

    backend = ""

    def __init__(self, net, params: dict, optimizer: str, hyper: dict, opt_state: dict,
                 seed: int = 0):
        self.net, self.spec = net, net.spec
        self.optimizer, self.hyper = optimizer, optim.resolve(optimizer, hyper)
        self.dtype = self.spec.check_params(params)
        self.seed = seed

    def train_step(self, x: np.ndarray, y: np.ndarray):
        raise NotImplementedError

    def eval_step(self, x: np.ndarray, y: np.ndarray):
        raise NotImplementedError

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(params, opt_state)``, canonical and detached from the framework."""
        raise NotImplementedError


def trainer_class(backend: str) -> type[Trainer]:
    """The :class:`Trainer` subclass of ``backend`` (imports that framework)."""
    modules = {"numpy": "trainer_numpy", "jax": "trainer_jax", "torch": "trainer_torch",
               "keras": "trainer_keras"}
    if backend not in modules:
        raise KeyError(f"unknown backend {backend!r}; expected one of {list(modules)}")
    return importlib.import_module(f"mlsandbox.engine.{modules[backend]}").Trainer
