"""The adapter every backend implements: canonical params in, NumPy out.

A backend subclasses :class:`Network` and fills in ``_forward``, ``_loss_and_grads``,
``_train`` and the converters ``to_native``/``from_native``; the checks and the shape of
the public methods live here once.
"""

from __future__ import annotations

from typing import ClassVar, Iterable, Mapping

import numpy as np

from kernels import optim
from models._spec import ContractError, Spec


class Network:
    """One network in one framework."""

    backend: ClassVar[str] = ""

    def __init__(self, spec: Spec):
        self.spec = spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    # -- public contract ------------------------------------------------------------
    def forward(self, params: Mapping[str, np.ndarray], batch: Mapping) -> np.ndarray:
        """Logits of shape (n, n_classes), in the params' dtype."""
        dtype = self.spec.check_params(params)
        self.spec.check_batch(batch, dtype, labels=False)
        return np.asarray(self._forward(params, batch["x"]))

    def loss_and_grads(self, params, batch) -> tuple[float, dict[str, np.ndarray]]:
        """Mean softmax cross-entropy and its gradient for every parameter."""
        dtype = self.spec.check_params(params)
        self.spec.check_batch(batch, dtype)
        loss, grads = self._loss_and_grads(params, batch["x"], batch["y"])
        return float(loss), {k: np.asarray(grads[k]) for k in self.spec.param_shapes()}

    def train(self, params, batches, optimizer: str = "sgd", *, steps: int | None = None,
              **hyper) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Train from ``params`` and return ``(final params, losses)``.

        ``batches`` is an iterable of batch dicts (one update each), or a single batch
        dict together with ``steps`` for full-batch gradient descent.  ``losses[t]`` is
        the loss of step ``t`` evaluated before its update.
        """
        dtype = self.spec.check_params(params)
        hyper = optim.resolve(optimizer, hyper)
        if isinstance(batches, Mapping):
            if steps is None or steps < 1:
                raise ContractError("a single batch trains full-batch: pass steps=N (N >= 1)")
            self.spec.check_batch(batches, dtype)
            source = Repeat(batches, steps)
        else:
            if steps is not None:
                raise ContractError("steps= is only for a single batch; with a list of "
                                    "batches every batch is one step")
            source = list(batches)
            if not source:
                raise ContractError("batches is empty: nothing to train on")
            for b in source:
                self.spec.check_batch(b, dtype)
        new_params, losses = self._train(dict(params), source, optimizer, hyper)
        return ({k: np.asarray(new_params[k]) for k in self.spec.param_shapes()},
                np.asarray(losses, dtype=np.float64))

    # -- converters -----------------------------------------------------------------
    def to_native(self, params):
        """The framework's own model (or parameter tree) holding ``params``."""
        raise NotImplementedError

    def from_native(self, native) -> dict[str, np.ndarray]:
        """Canonical params read back from :meth:`to_native`'s kind of object."""
        raise NotImplementedError

    # -- to fill in -----------------------------------------------------------------
    def _forward(self, params, x):
        raise NotImplementedError

    def _loss_and_grads(self, params, x, y):
        raise NotImplementedError

    def _train(self, params, source, optimizer, hyper):
        raise NotImplementedError


class Repeat:
    """The same batch ``steps`` times (full-batch gradient descent)."""

    def __init__(self, batch: Mapping, steps: int):
        self.batch, self.steps = batch, int(steps)

    def __iter__(self) -> Iterable[Mapping]:
        for _ in range(self.steps):
            yield self.batch

    def __len__(self) -> int:
        return self.steps
