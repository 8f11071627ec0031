"""The adapter every backend implements: canonical params in, NumPy out.

A backend subclasses :class:`Network` and fills in ``_forward``, ``_loss_and_grads``,
``_train`` and the converters ``to_native``/``from_native``; the checks and the shape of
the public methods live here once.

Contract extensions (all keyword-only, defaults keep the original behaviour):

* ``train=`` on :meth:`Network.forward` and :meth:`Network.loss_and_grads`: eval mode by
  default; train mode uses batch statistics in batch norm and dropout with the masks
  injected as ``batch["masks"][<layer name>]`` (0/1, scaled by 1/(1-rate) inside) or
  else the framework's RNG.  Backends receive ``train`` and the checked ``masks``.
* Non-trainable state (``spec.state_names()``, e.g. ``"bn.moving_mean"``) lives in the
  canonical params dict; gradients cover ``spec.trainable()`` only; :meth:`Network.train`
  returns the updated state with the params.
* ``opt_state=`` / ``return_opt_state=`` on :meth:`Network.train`: a canonical optimizer
  state (flat ``{str: ndarray}``, see :func:`kernels.optim.state_names`) that any backend
  reads and writes, so a run resumes in another framework (and checkpoints store it).
* Learning-rate schedules: ``lr=`` takes a :mod:`kernels.schedules` schedule as well as
  a float; each backend maps it onto its own scheduler.
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
    def forward(self, params: Mapping[str, np.ndarray], batch: Mapping, *,
                train: bool = False) -> np.ndarray:
        """Logits of shape (n, n_classes), in the params' dtype.

        ``train=False`` (eval mode): dropout is the identity, batch norm normalizes with
        the running statistics in ``params``.  ``train=True``: dropout layers use
        ``batch["masks"][<layer name>]`` when given (0/1 arrays of the layer input's
        shape; the kept units are scaled by 1/(1-rate) inside, inverted dropout), else
        the framework's own RNG; batch norm normalizes with the batch's statistics.
        The running statistics a train-mode call computes are not returned (see
        :meth:`train`).
        """
        dtype = self.spec.check_params(params)
        self.spec.check_batch(batch, dtype, labels=False)
        masks = self._masks(batch, dtype, train)
        return np.asarray(self._forward(params, batch["x"], train=train, masks=masks))

    def loss_and_grads(self, params, batch, *, train: bool = False
                       ) -> tuple[float, dict[str, np.ndarray]]:
        """Mean softmax cross-entropy and its gradient for every trainable parameter
        (``spec.trainable()``; non-trainable state such as batch norm's running
        statistics gets none).  ``train`` as in :meth:`forward`."""
        dtype = self.spec.check_params(params)
        self.spec.check_batch(batch, dtype)
        masks = self._masks(batch, dtype, train)
        loss, grads = self._loss_and_grads(params, batch["x"], batch["y"], train=train,
                                           masks=masks)
        return float(loss), {k: np.asarray(grads[k]) for k in self.spec.trainable()}

    def train(self, params, batches, optimizer: str = "sgd", *, steps: int | None = None,
              opt_state: Mapping[str, np.ndarray] | None = None,
              return_opt_state: bool = False, **hyper):
        """Train from ``params`` and return ``(final params, losses)``, or
        ``(final params, losses, opt_state)`` with ``return_opt_state=True``.

        ``batches`` is an iterable of batch dicts (one update each), or a single batch
        dict together with ``steps`` for full-batch gradient descent.  ``losses[t]`` is
        the loss of step ``t`` evaluated before its update.  Every step runs in train
        mode (``batch["masks"]`` as in :meth:`forward`); the returned params include the
        updated non-trainable state (batch norm running statistics).

        ``optimizer`` and ``hyper`` are canonical (:data:`kernels.optim.OPTIMIZERS`);
        ``lr`` may be a float or a schedule from :mod:`kernels.schedules`, which each
        backend maps onto its own (optax schedule, ``torch.optim.lr_scheduler``, Keras
        ``LearningRateSchedule``).  ``opt_state`` resumes from a canonical optimizer
        state, a flat ``{str: ndarray}`` such as ``{"step": 3, "momentum/dense1.kernel":
        ...}`` (names from :func:`kernels.optim.state_names`), written by any backend.
        """
        dtype = self.spec.check_params(params)
        hyper = optim.resolve(optimizer, hyper)
        if isinstance(batches, Mapping):
            if steps is None or steps < 1:
                raise ContractError("a single batch trains full-batch: pass steps=N (N >= 1)")
            self.spec.check_batch(batches, dtype)
            source = Repeat(self._with_masks(batches, dtype), steps)
        else:
            if steps is not None:
                raise ContractError("steps= is only for a single batch; with a list of "
                                    "batches every batch is one step")
            source = list(batches)
            if not source:
                raise ContractError("batches is empty: nothing to train on")
            for b in source:
                self.spec.check_batch(b, dtype)
            source = [self._with_masks(b, dtype) for b in source]
        trainable = {k: params[k] for k in self.spec.trainable()}
        if opt_state is None:
            opt_state = optim.init(optimizer, trainable, hyper)
        else:
            opt_state = optim.check_state(optimizer, trainable, hyper, opt_state)
        new_params, losses, new_state = self._train(dict(params), source, optimizer, hyper,
                                                    opt_state)
        out = ({k: np.asarray(new_params[k]) for k in self.spec.param_shapes()},
               np.asarray(losses, dtype=np.float64))
        if return_opt_state:
            return (*out, {k: np.asarray(v) for k, v in new_state.items()})
        return out

    def _with_masks(self, batch: Mapping, dtype: str) -> Mapping:
        masks = self._masks(batch, dtype, True)
        return batch if masks is None else {**batch, "masks": masks}

    def _masks(self, batch: Mapping, dtype: str, train: bool) -> dict | None:
        """``batch["masks"]`` checked against ``spec.dropout()``; None in eval mode."""
        masks = batch.get("masks")
        if masks is None or not train:
            return None
        rates = self.spec.dropout()
        if not isinstance(masks, Mapping):
            raise ContractError(f"batch['masks'] must be a dict {{layer name: 0/1 array}}, "
                                f"got {type(masks).__name__}")
        unknown = sorted(set(masks) - set(rates))
        if unknown:
            raise ContractError(f"{self.spec.name}: masks for unknown dropout layers "
                                f"{unknown}; its dropout layers are {sorted(rates)}")
        out = {}
        for k, m in masks.items():
            m = np.asarray(m)
            if m.shape[:1] != np.shape(batch["x"])[:1]:
                raise ContractError(f"{self.spec.name}: mask {k!r} has shape {m.shape}; it "
                                    f"needs the batch size {np.shape(batch['x'])[0]} first")
            if not np.all((m == 0) | (m == 1)):
                raise ContractError(f"{self.spec.name}: mask {k!r} must hold only 0 and 1 "
                                    f"(the 1/(1-rate) scaling happens inside)")
            out[k] = m.astype(dtype)
        return out

    # -- converters -----------------------------------------------------------------
    def to_native(self, params):
        """The framework's own model (or parameter tree) holding ``params``."""
        raise NotImplementedError

    def from_native(self, native) -> dict[str, np.ndarray]:
        """Canonical params read back from :meth:`to_native`'s kind of object."""
        raise NotImplementedError

    # -- to fill in -----------------------------------------------------------------
    def _forward(self, params, x, *, train=False, masks=None):
        raise NotImplementedError

    def _loss_and_grads(self, params, x, y, *, train=False, masks=None):
        """``(loss, grads)`` with grads for at least ``spec.trainable()``."""
        raise NotImplementedError

    def _train(self, params, source, optimizer, hyper, opt_state):
        """``(params with state, losses, canonical opt_state)``; batches in ``source``
        carry checked ``"masks"`` when the caller gave them."""
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
