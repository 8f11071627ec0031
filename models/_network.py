"""The adapter every backend implements: canonical params in, NumPy out.

A backend subclasses :class:`Network` (the stateless contract: ``forward``,
``loss_and_grads``, ``train``) and :class:`Trainer` (one training session: the one place
where that framework takes a training step).  The checks and the shape of the public
methods live here once; the backend fills in the ``_``-prefixed hooks.

Contract extensions (all keyword-only, defaults keep the original behaviour):

* ``train=`` on :meth:`Network.forward` and :meth:`Network.loss_and_grads`: eval mode by
  default; train mode uses batch statistics in batch norm and dropout (see *Dropout*).
* Non-trainable state (``spec.state_names()``, e.g. ``"bn.moving_mean"``) lives in the
  canonical params dict; gradients cover ``spec.trainable()`` only; training returns the
  updated state with the params.
* Tied parameters (``spec.tied()``, ``{copy: source}``): both names in the params dict,
  equal; gradients and optimizer state for the source only (the sum over both uses);
  :meth:`Trainer.state` returns the copy equal to the updated source.
* ``opt_state=``: a canonical optimizer state (flat ``{str: ndarray}``, see
  :func:`kernels.optim.state_names`) that any backend reads and writes, so a run resumes
  in another framework (and checkpoints store it).
* Learning-rate schedules: ``lr=`` takes a :mod:`kernels.schedules` schedule as well as
  a float; each backend maps it onto its own scheduler.

Dropout, one rule for every network and backend: a train-mode batch may carry
``batch["masks"][<layer>]`` (0/1 arrays of shape ``(n, *spec.mask_shape(layer))``, a
``None`` there being the batch's sequence length; the 1/(1-rate) scaling happens inside),
and then every backend uses exactly those masks.
Without masks each backend draws its own from its framework's RNG, seeded by the run's
``seed`` and the global step number (``opt_state["step"]``): the NumPy reference from
``numpy.random.default_rng([seed, step])`` (:meth:`Spec.masks`), JAX from
``fold_in(PRNGKey(seed), step)``, torch and Keras from generators reset to
``(seed, step)`` before each step.  So the same seed gives the same bytes in every run
of one backend, and a resumed run draws the masks an uninterrupted one would.
"""

from __future__ import annotations

import math
from typing import ClassVar, Iterable, Mapping

import numpy as np

from kernels import optim
from models._spec import ContractError, Spec

#: forms of the optimizer rules (kernels.optim) that a backend computes: the first
#: value of each is the framework's own (what ``None`` gives)
ALL_FORMS = {"momentum_form": ("torch", "keras"), "eps_hat": (False, True),
             "eps_in_sqrt": (False, True)}


def check_seed(seed) -> int:
    """A run seed: an integer in [0, 2**63)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < 2 ** 63:
        raise ContractError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    return int(seed)


def step_seed(seed: int, step: int, *more: int) -> int:
    """One 63-bit integer from ``(seed, step)``, for frameworks whose generators take
    a single seed (torch, Keras): ``numpy.random.SeedSequence([seed, step])``.  A
    data-parallel replica adds its rank (``more``), so that replicas draw different
    masks."""
    return int(np.random.SeedSequence([seed, step, *more]).generate_state(2, np.uint64)[0]
               >> 1)


class Network:
    """One network in one framework."""

    backend: ClassVar[str] = ""
    #: the optimizer forms this framework computes (:data:`ALL_FORMS` for the reference)
    FORMS: ClassVar[dict[str, tuple]] = ALL_FORMS
    #: the trainer class of this backend
    Trainer: ClassVar[type] = None
    #: the framework's own engine for data-parallel training (``devices=N``), or None
    #: where the backend trains on one device only
    DATA_PARALLEL: ClassVar[str | None] = None
    #: whether that engine runs one process per device: ``devices=N`` then trains in each
    #: of N processes already joined in the framework's process group (``torchrun``, or
    #: ranks that :mod:`mlsandbox.engine.launch` starts), each process on its own shard
    DATA_PARALLEL_PROCESSES: ClassVar[bool] = False

    def __init__(self, spec: Spec):
        self.spec = spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    # -- public contract ------------------------------------------------------------
    def forward(self, params: Mapping[str, np.ndarray], batch: Mapping, *,
                train: bool = False) -> np.ndarray:
        """Logits (``(n, n_classes)`` for a classifier), in the params' dtype.

        ``train=False`` (eval mode): dropout is the identity, batch norm normalizes with
        the running statistics in ``params``.  ``train=True``: dropout as the module
        docstring says (injected ``batch["masks"]``, else the framework's RNG at seed 0,
        step 0); batch norm normalizes with the batch's statistics.  The running
        statistics a train-mode call computes are not returned (see :meth:`train`).
        """
        dtype = self.spec.check_params(params)
        self.spec.check_batch(batch, dtype, labels=False)
        masks = self.check_masks(batch, dtype) if train else None
        return np.asarray(self._forward(params, batch, train=train, masks=masks))

    def loss_and_grads(self, params, batch, *, train: bool = False
                       ) -> tuple[float, dict[str, np.ndarray]]:
        """The objective of ``spec.objective()`` (its loss plus its penalties) and its
        gradient for every trainable parameter (``spec.trainable()``; non-trainable state
        such as batch norm's running statistics gets none).  ``train`` as in
        :meth:`forward`."""
        dtype = self.spec.check_params(params)
        self.spec.check_batch(batch, dtype)
        masks = self.check_masks(batch, dtype) if train else None
        loss, grads = self._loss_and_grads(params, batch, train=train, masks=masks)
        return float(loss), {k: np.asarray(grads[k]) for k in self.spec.trainable()}

    def trainer(self, params, optimizer: str = "sgd", *, opt_state=None, seed: int = 0,
                devices: int = 1, **hyper) -> "Trainer":
        """A training session on ``params`` (copied): ``t.step(batch)``,
        ``t.run(batches)``, ``t.evaluate(batch)``, ``t.predict(batch)``, ``t.state()``.

        ``optimizer`` and ``hyper`` are canonical (:data:`kernels.optim.OPTIMIZERS`);
        ``lr`` may be a float or a schedule from :mod:`kernels.schedules`.  ``opt_state``
        resumes from a canonical optimizer state written by any backend; ``seed`` seeds
        the dropout masks drawn when a batch brings none (module docstring).

        ``devices=N`` trains data-parallel on the framework's own engine
        (:attr:`DATA_PARALLEL`; see :mod:`models.parallel`): each global batch (its size
        a multiple of N) is split into N equal shards, one per device or process, the
        parameters are replicated, and the update is the one a single device makes on
        the whole batch.
        """
        return self.Trainer(self, params, optimizer, opt_state, seed, hyper, devices)

    def train(self, params, batches, optimizer: str = "sgd", *, steps: int | None = None,
              opt_state: Mapping[str, np.ndarray] | None = None,
              return_opt_state: bool = False, seed: int = 0, **hyper):
        """Train from ``params`` and return ``(final params, losses)``, or
        ``(final params, losses, opt_state)`` with ``return_opt_state=True``.

        ``batches`` is an iterable of batch dicts (one update each), or a single batch
        dict together with ``steps`` for full-batch gradient descent.  ``losses[t]`` is
        the loss of step ``t`` evaluated before its update.  Every step runs in train
        mode; the returned params include the updated non-trainable state (batch norm
        running statistics).  The rest as in :meth:`trainer`, which this calls.
        """
        t = self.trainer(params, optimizer, opt_state=opt_state, seed=seed, **hyper)
        losses = t.run(batches, steps=steps)
        new_params, new_state = t.state()
        if return_opt_state:
            return new_params, losses, new_state
        return new_params, losses

    def check_masks(self, batch: Mapping, dtype: str) -> dict | None:
        """``batch["masks"]`` checked against ``spec.dropout()`` and
        ``spec.mask_shape()``, cast to ``dtype``; None when the batch has none."""
        masks = batch.get("masks")
        if masks is None:
            return None
        rates = self.spec.dropout()
        if not isinstance(masks, Mapping):
            raise ContractError(f"batch['masks'] must be a dict {{layer name: 0/1 array}}, "
                                f"got {type(masks).__name__}")
        unknown = sorted(set(masks) - set(rates))
        if unknown:
            raise ContractError(f"{self.spec.name}: masks for unknown dropout layers "
                                f"{unknown}; its dropout layers are {sorted(rates)}")
        n = self.spec.batch_size(batch)
        length = self.spec.sequence_length(batch)
        out = {}
        for k, m in masks.items():
            m = np.asarray(m)
            want = (n, *self.spec.batch_mask_shape(k, length))
            if m.shape != want:
                raise ContractError(f"{self.spec.name}: mask {k!r} has shape {m.shape}, "
                                    f"expected {want} (the batch size, then the shape of "
                                    f"the layer's input)")
            if not np.all((m == 0) | (m == 1)):
                raise ContractError(f"{self.spec.name}: mask {k!r} must hold only 0 and 1 "
                                    f"(the 1/(1-rate) scaling happens inside)")
            out[k] = m.astype(dtype)
        return out

    def inputs(self, batch: Mapping) -> tuple:
        """The batch's input arrays in ``spec.inputs()`` order (what the module takes)."""
        return tuple(batch[k] for k in self.spec.inputs())

    # -- converters -----------------------------------------------------------------
    def to_native(self, params):
        """The framework's own model (or parameter tree) holding ``params``."""
        raise NotImplementedError

    def from_native(self, native) -> dict[str, np.ndarray]:
        """Canonical params read back from :meth:`to_native`'s kind of object."""
        raise NotImplementedError

    # -- to fill in -----------------------------------------------------------------
    def _forward(self, params, batch, *, train=False, masks=None):
        raise NotImplementedError

    def _loss_and_grads(self, params, batch, *, train=False, masks=None):
        """``(loss, grads)`` with grads for at least ``spec.trainable()``."""
        raise NotImplementedError


class Trainer:
    """One network in one framework during training: its native parameters and optimizer
    state, and the framework's training step written the way its users write it.

    Built by :meth:`Network.trainer`.  ``step``, ``evaluate`` and ``predict`` take a batch
    dict (checked against the spec) or what :meth:`put` made of one (checked once, the
    framework's own tensors: what a benchmark should time).  ``step`` and ``evaluate``
    return ``{"loss", "correct", "count"}`` (the mean loss, the number of correct
    predictions and of predictions made); the values may be framework scalars, so that a
    loop need not synchronize on every step (``float()`` them).  :meth:`state` gives the
    canonical ``(params, opt_state)`` back.
    """

    def __init__(self, net: Network, params, optimizer: str, opt_state, seed, hyper,
                 devices: int = 1):
        self.net, self.spec = net, net.spec
        #: data-parallel width: the number of shards of every training batch
        self.devices = check_devices(devices, net)
        self.dtype = self.spec.check_params(params)
        self.optimizer = optimizer
        self.hyper = optim.resolve(optimizer, hyper)
        optim.check_forms(optimizer, self.hyper, net.FORMS, f"the {net.backend} backend")
        self.seed = check_seed(seed)
        trainable = {k: np.asarray(params[k]) for k in self.spec.trainable()}
        if opt_state is None:
            opt_state = optim.init(optimizer, trainable, self.hyper)
        else:
            opt_state = optim.check_state(optimizer, trainable, self.hyper, opt_state)
        self.step0 = int(opt_state["step"])
        #: updates done by this trainer
        self.steps = 0
        self.state_names = tuple(opt_state)
        self._setup({k: np.array(v) for k, v in params.items()}, opt_state)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.spec.name}/{self.net.backend}, "
                f"{self.optimizer}, step {self.step_count})")

    @property
    def step_count(self) -> int:
        """The global step number of the next update (``opt_state["step"]``)."""
        return self.step0 + self.steps

    # -- public -------------------------------------------------------------------------
    def put(self, batch: Mapping, *, labels: bool = True) -> "Batch":
        """``batch`` checked and converted to the framework's tensors once."""
        if isinstance(batch, Batch):
            return batch
        self.spec.check_batch(batch, self.dtype, labels=labels)
        masks = self.net.check_masks(batch, self.dtype)
        n = self.spec.batch_size(batch)
        arrays = {k: np.asarray(batch[k]) for k in self.spec.inputs()}
        if labels:
            arrays["y"] = np.asarray(batch["y"], dtype=np.int64)
        return Batch(n, arrays, masks, self._native(arrays, masks))

    def step(self, batch) -> dict:
        """One update on ``batch`` in train mode; the metrics of the step (its loss is
        measured before the update)."""
        b = self.put(batch)
        self.check_shards(b)
        out = self._step(b, self.step_count)
        self.steps += 1
        return out

    def run(self, batches, *, steps: int | None = None) -> np.ndarray:
        """Updates on every batch of ``batches`` (an iterable of batch dicts), or
        ``steps`` updates on one batch dict (full-batch gradient descent); the losses of
        the steps as float64 (a backend may fuse the run, as JAX does in one
        ``lax.scan``)."""
        if isinstance(batches, (Mapping, Batch)):
            steps = check_steps(steps)
            b = self.put(batches)
            self.check_shards(b)
            losses = self._run_repeat(b, steps, self.step_count)
            self.steps += steps
        else:
            if steps is not None:
                raise ContractError("steps= is only for a single batch; with a list of "
                                    "batches every batch is one step")
            source = [self.put(b) for b in batches]
            if not source:
                raise ContractError("batches is empty: nothing to train on")
            for b in source:
                self.check_shards(b)
            losses = self._run_list(source, self.step_count)
            self.steps += len(source)
        return np.asarray(losses, dtype=np.float64)

    def check_shards(self, b: "Batch") -> None:
        """A training batch must split into :attr:`devices` equal shards."""
        if b.n % self.devices:
            raise ContractError(f"a batch of {b.n} examples does not split into "
                                f"devices={self.devices} equal shards: data-parallel "
                                f"batch sizes must be multiples of {self.devices}")

    def evaluate(self, batch) -> dict:
        """The metrics of ``batch`` in eval mode (no update)."""
        return self._evaluate(self.put(batch))

    def predict(self, batch):
        """Eval-mode logits of ``batch`` as the framework's own array, ready (computed)."""
        return self._predict(self.put(batch, labels=False))

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(params, opt_state)``, canonical and detached from the framework."""
        params, opt_state = self._state()
        params = self.spec.tie({k: np.array(params[k]) for k in self.spec.param_shapes()})
        opt_state = {k: np.array(v) for k, v in opt_state.items()}
        opt_state["step"] = np.array(self.step_count, dtype=np.int64)
        return params, opt_state

    # -- to fill in -----------------------------------------------------------------------
    def _setup(self, params: dict, opt_state: dict) -> None:
        raise NotImplementedError

    def _native(self, arrays: dict, masks: dict | None):
        """The framework's tensors of a checked batch (or the arrays as they are)."""
        return None

    def _step(self, b: "Batch", step: int) -> dict:
        raise NotImplementedError

    def _run_list(self, batches: list, step: int):
        return [self._step(b, step + i)["loss"] for i, b in enumerate(batches)]

    def _run_repeat(self, b: "Batch", steps: int, step: int):
        return [self._step(b, step + i)["loss"] for i in range(steps)]

    def _evaluate(self, b: "Batch") -> dict:
        raise NotImplementedError

    def _predict(self, b: "Batch"):
        raise NotImplementedError

    def _state(self) -> tuple[dict, dict]:
        raise NotImplementedError


class Batch:
    """A checked batch: ``n`` examples, its NumPy ``arrays`` (inputs and ``"y"``), its
    checked dropout ``masks`` (or None) and the framework's tensors ``native``."""

    __slots__ = ("n", "arrays", "masks", "native")

    def __init__(self, n: int, arrays: dict, masks: dict | None, native):
        self.n, self.arrays, self.masks, self.native = n, arrays, masks, native

    def signature(self) -> tuple:
        """What must agree for batches to share one fused run: shapes and mask names."""
        return (tuple((k, v.shape) for k, v in self.arrays.items()),
                tuple(sorted((k, v.shape) for k, v in self.masks.items()))
                if self.masks else None)


def check_devices(devices, net: Network) -> int:
    """A data-parallel width: an integer >= 1, above 1 only for a backend with an engine
    for it (:attr:`Network.DATA_PARALLEL`)."""
    if isinstance(devices, (bool, np.bool_)) or not isinstance(devices, (int, np.integer)) \
            or devices < 1:
        raise ContractError(f"devices must be an integer >= 1, got {devices!r}")
    if devices > 1 and net.DATA_PARALLEL is None:
        raise ContractError(f"devices={devices}: the {net.backend} backend trains on one "
                            f"device only: devices=1")
    return int(devices)


def check_steps(steps) -> int:
    if steps is None:
        raise ContractError("a single batch trains full-batch: pass steps=N (N >= 1)")
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)) \
            or steps < 1:
        raise ContractError(f"steps must be an integer >= 1, got {steps!r}")
    return int(steps)


def metrics_fraction(total: Mapping) -> float:
    """``correct / count`` of summed metrics (NaN for no predictions)."""
    count = float(total["count"])
    return float(total["correct"]) / count if count else math.nan


class Repeat:
    """The same batch ``steps`` times (full-batch gradient descent)."""

    def __init__(self, batch: Mapping, steps: int):
        self.batch, self.steps = batch, int(steps)

    def __iter__(self) -> Iterable[Mapping]:
        for _ in range(self.steps):
            yield self.batch

    def __len__(self) -> int:
        return self.steps
