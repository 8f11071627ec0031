"""What every network declares once: its config, parameter table, inputs, objective, init
and examples.

A network's ``spec.py`` subclasses :class:`Spec` (a frozen dataclass of its config) and
fills in :meth:`param_shapes`, :meth:`input_shape` and :meth:`init`; the rest has
defaults that fit a classifier of float inputs ``x`` trained with softmax cross-entropy.
Framework differences that make outputs differ on purpose are listed in ``conventions``
as :class:`Convention` entries; each has a test that shows it.

The objective is data (:class:`Objective`: a loss kind and penalty terms), declared by the
spec and implemented once per framework in its adapter (``models/adapters``), so that
``loss_and_grads``, ``train``, the engine and the benchmarks all minimize the same thing.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Mapping

import numpy as np

FLOAT_DTYPES = ("float32", "float64")

#: label value ignored by the masked cross-entropy (torch's ``ignore_index`` default, HF's)
IGNORE_INDEX = -100


class ContractError(ValueError):
    """Parameters or a batch that do not fit a network's spec."""


@dataclasses.dataclass(frozen=True)
class Convention:
    """A place where one framework computes something other than the reference.

    ``setting`` says how our adapter makes them equal, when the framework allows it.
    """

    topic: str
    frameworks: str
    difference: str
    size: str
    setting: str = ""


#: shared by the networks that max-pool (tinyvgg, cnn)
NAN_IN_MAX_POOL = Convention(
    topic="NaN in a max-pool window",
    frameworks="JAX (XLA), Keras (TensorFlow) vs NumPy, torch",
    difference="XLA's reduce_window max and TensorFlow's MaxPool skip a NaN in the window "
               "(an inf before them can still become NaN later); NumPy's max and torch's "
               "max_pool2d propagate it, and so does the reference",
    size="one NaN pixel: all logits NaN in NumPy and torch, finite (and equal) in JAX "
         "and Keras; gradients through NaN differ likewise",
    setting="none: the frameworks' own pools; parity/test_nonfinite.py shows it")

#: shared by every network with a ReLU
NAN_RELU_GRADIENT = Convention(
    topic="ReLU gradient at a NaN input",
    frameworks="torch, Keras vs NumPy, JAX",
    difference="relu(nan) = nan everywhere; the gradient passed back through it is 0 "
               "in NumPy and JAX (1[x > 0]) but NaN in torch and Keras",
    size="one NaN input feature: dense1's gradient finite except the NaN column in "
         "NumPy/JAX, all NaN in torch and Keras",
    setting="none; parity/test_nonfinite.py shows it")


#: loss kinds an :class:`Objective` may name, with the logits and labels each takes
LOSSES = {
    "softmax_cross_entropy": "logits (n, k), labels (n,) in [0, k); the mean over n",
    "sigmoid_cross_entropy": "logits (n, 1), labels (n,) in {0, 1}; the mean over n",
    "masked_cross_entropy": "logits (n, T, k), labels (n, T) in [0, k) or -100 (ignored); "
                            "the mean over the labels that are not ignored (0 when all are)",
}

PENALTIES = {
    "l2": "strength · Σ w² (Keras regularizers.l2; its gradient is 2 · strength · w)",
    "l1": "strength · Σ |w| (Keras regularizers.l1; subgradient 0 at w = 0)",
}


@dataclasses.dataclass(frozen=True)
class Penalty:
    """A term ``strength · Σ_p f(w_p)`` added to the loss, over the parameters ``params``.

    ``f`` is ``w²`` (``kind="l2"``, Keras's convention, so the gradient is ``2·strength·w``)
    or ``|w|`` (``"l1"``).  With ``per_example=True`` the strength is divided by the
    batch size n (logistic regression's ``‖W‖²/(2Cn)`` is ``strength = 1/(2C)``), so a
    minibatch step is a step on its own batch's objective.
    """

    kind: str
    params: tuple[str, ...]
    strength: float
    per_example: bool = False

    def __post_init__(self):
        if self.kind not in PENALTIES:
            raise ValueError(f"penalty kind must be one of {sorted(PENALTIES)}, got {self.kind!r}")
        if not (isinstance(self.strength, (int, float, np.floating)) and
                math.isfinite(self.strength) and self.strength >= 0):
            raise ValueError(f"penalty strength must be a finite number >= 0, got "
                             f"{self.strength!r}")

    def scale(self, n: int) -> float:
        """The strength for a batch of ``n`` examples."""
        return self.strength / n if self.per_example else self.strength


@dataclasses.dataclass(frozen=True)
class Objective:
    """What training minimizes: ``loss`` (a kind of :data:`LOSSES`) plus ``penalties``."""

    loss: str = "softmax_cross_entropy"
    penalties: tuple[Penalty, ...] = ()

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")

    def shares(self, y, parts: int) -> list[float]:
        """Each of ``parts`` equal contiguous shards' share of the predictions the loss
        averages over in labels ``y`` (the labels kept, for the masked loss): what a
        data-parallel replica's loss is weighted by (0 for all when none is kept)."""
        y = np.asarray(y)
        n = len(y)
        kept = (y != IGNORE_INDEX) if self.loss == "masked_cross_entropy" \
            else np.ones(y.shape, bool)
        counts = [int(kept[r * n // parts:(r + 1) * n // parts].sum()) for r in range(parts)]
        total = max(sum(counts), 1)
        return [c / total for c in counts]


def check_dtype(dtype) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise ContractError(f"dtype must be one of {FLOAT_DTYPES}, got {dtype!r}") from None
    if name not in FLOAT_DTYPES:
        raise ContractError(f"dtype must be one of {FLOAT_DTYPES}, got {name!r}")
    return name


@dataclasses.dataclass(frozen=True)
class Spec:
    """Base of every network's spec.  Subclasses are frozen dataclasses of the config."""

    name: ClassVar[str] = ""
    n_classes: ClassVar[int] = 0
    conventions: ClassVar[tuple[Convention, ...]] = ()

    # -- to fill in ---------------------------------------------------------------
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The canonical parameter table ``{name: shape}``, in a fixed order."""
        raise NotImplementedError

    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example's ``x`` (without the batch axis)."""
        raise NotImplementedError

    def init(self, seed: int = 0, dtype="float64") -> dict[str, np.ndarray]:
        raise NotImplementedError

    # -- defaults a network may override ---------------------------------------------
    def inputs(self) -> dict[str, tuple[tuple[int | None, ...], str]]:
        """``{batch key: (shape without the batch axis, kind)}`` of the network's inputs,
        in the order the modules take them; kind ``"float"`` (the params' dtype) or
        ``"int"`` (token ids, masks).  ``None`` in a shape is any size, the same for
        every input that has one (a sequence length).  Default: ``{"x": (input_shape(),
        "float")}``."""
        return {"x": (tuple(self.input_shape()), "float")}

    def input_range(self, key: str) -> tuple[int, int] | None:
        """``(low, high)``: the values an ``"int"`` input may take, ``[low, high)`` (token
        ids: ``[0, vocab_size)``), checked in every backend alike; None: any."""
        return None

    def label_shape(self) -> tuple[int | None, ...]:
        """Shape of one example's label (``()`` for a class id; ``(None,)`` for a label
        per position, as the masked-LM loss takes)."""
        return ()

    def objective(self) -> Objective:
        """The loss and penalties training minimizes (softmax cross-entropy, none)."""
        return Objective()

    def state_names(self) -> tuple[str, ...]:
        """Entries of the parameter table that are non-trainable state (batch norm's
        ``"bn.moving_mean"``, ``"bn.moving_variance"``): carried in the params dict,
        updated by training in train mode, never given a gradient.  None by default."""
        return ()

    def tied(self) -> dict[str, str]:
        """``{copy: source}``: entries of the parameter table that are the same weight as
        another entry (BERT's masked-LM decoder is its word embeddings).  Both names are in
        the table and in every params dict, holding equal arrays (:meth:`check_params`
        refuses a pair that differs); only the source is trainable, and its gradient is the
        sum over every use of the weight, as autograd sums the uses of one tensor.
        Training updates the source and returns the copy equal to it.  None by default."""
        return {}

    def tie(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``params`` with every tied copy set to (a copy of) its source."""
        out = dict(params)
        for copy, source in self.tied().items():
            if source in out:
                out[copy] = np.array(out[source])
        return out

    def trainable(self) -> tuple[str, ...]:
        """The parameter names that get gradients, in table order (non-trainable state and
        tied copies excluded)."""
        skip = set(self.state_names()) | set(self.tied())
        return tuple(k for k in self.param_shapes() if k not in skip)

    def dropout(self) -> dict[str, float]:
        """``{layer name: rate}`` of the dropout layers; a train-mode batch may carry
        ``batch["masks"][name]``, a 0/1 array of :meth:`mask_shape` ``(n, ...)``."""
        return {}

    def mask_shape(self, name: str) -> tuple[int | None, ...]:
        """Shape of dropout layer ``name``'s input for one example (its mask's shape
        without the batch axis).  ``None`` stands for the batch's sequence length
        (:meth:`sequence_length`), for layers on a sequence of any length (BERT's hidden
        dropout is ``(None, hidden_size)``, its attention dropout ``(heads, None, None)``)."""
        raise NotImplementedError(f"{self.name}: no dropout layer {name!r}")

    def sequence_length(self, batch: Mapping) -> int | None:
        """The size of the inputs' ``None`` axis in ``batch`` (the sequence length T),
        or None when no input has one."""
        for key, (tail, _) in self.inputs().items():
            for i, d in enumerate(tail):
                if d is None:
                    return int(np.shape(batch[key])[1 + i])
        return None

    def batch_mask_shape(self, name: str, length: int | None = None) -> tuple[int, ...]:
        """:meth:`mask_shape` with ``None`` replaced by ``length`` (the sequence length)."""
        shape = tuple(self.mask_shape(name))
        if None in shape:
            if length is None:
                dims = ", ".join("T" if d is None else str(d) for d in shape)
                raise ContractError(f"{self.name}: dropout layer {name!r} has a mask of shape "
                                    f"(n, {dims}); pass the sequence length T (length=)")
            shape = tuple(length if d is None else d for d in shape)
        return shape

    def masks(self, n: int, seed=0, dtype="float64", *, length: int | None = None
              ) -> dict[str, np.ndarray]:
        """Random 0/1 dropout masks for a batch of ``n`` (``batch["masks"]``), each unit
        kept with probability ``1 - rate``, drawn from ``numpy.random.default_rng(seed)``
        (``seed`` may be a sequence such as ``[run seed, step]``).  ``length``: the
        sequence length T, for layers whose :meth:`mask_shape` has a ``None``."""
        dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        return {k: (rng.random((n, *self.batch_mask_shape(k, length))) >= r).astype(dtype)
                for k, r in self.dropout().items()}

    def example(self, n: int = 8, seed: int = 0, dtype="float64") -> dict[str, np.ndarray]:
        """A random batch ``{"x": (n, *input_shape), "y": (n,) int64}``."""
        dtype = check_dtype(dtype)
        n = check_batch_size(n)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, *self.input_shape())).astype(dtype)
        y = rng.integers(0, self.n_classes, size=n).astype(np.int64)
        return {"x": x, "y": y}

    # -- checks shared by every backend --------------------------------------------
    def check_positive_ints(self, *fields: str) -> None:
        """Raise ValueError naming the first of ``fields`` that is not an integer >= 1."""
        for f in fields:
            v = getattr(self, f)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{self.name}: {f} must be a positive integer, got {v!r}")

    def check_finite(self, *fields: str) -> None:
        """Raise ValueError naming the first of ``fields`` that is not a finite real."""
        for f in fields:
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(v):
                raise ValueError(f"{self.name}: {f} must be a finite number, got {v!r}")

    def config(self) -> dict:
        return dataclasses.asdict(self)

    def check_params(self, params: Mapping[str, np.ndarray]) -> str:
        """Check names, shapes and a single float dtype; return the dtype name."""
        want = self.param_shapes()
        if not isinstance(params, Mapping):
            raise ContractError(f"params must be a dict of arrays, got {type(params).__name__}")
        missing = [k for k in want if k not in params]
        extra = [k for k in params if k not in want]
        if missing or extra:
            raise ContractError(
                f"{self.name}: parameter names do not match the spec; missing {missing}, "
                f"unexpected {extra}; expected {list(want)}")
        dtypes = set()
        for k, shape in want.items():
            a = np.asarray(params[k])
            if a.shape != tuple(shape):
                raise ContractError(
                    f"{self.name}: parameter {k!r} has shape {a.shape}, expected {tuple(shape)}")
            dtypes.add(a.dtype.name)
        if len(dtypes) != 1:
            raise ContractError(f"{self.name}: parameters mix dtypes {sorted(dtypes)}; "
                                f"use one of {FLOAT_DTYPES}")
        for copy, source in self.tied().items():
            a, b = np.asarray(params[copy]), np.asarray(params[source])
            if not (a is b or np.array_equal(a, b) or np.array_equal(a, b, equal_nan=True)):
                raise ContractError(
                    f"{self.name}: tied parameters differ: {copy!r} must equal {source!r} "
                    f"(one weight under two names); set both, e.g. with spec.tie(params)")
        return check_dtype(dtypes.pop())

    def batch_size(self, batch: Mapping) -> int:
        """The number of examples in ``batch`` (the first axis of its first input)."""
        return int(np.shape(batch[next(iter(self.inputs()))])[0])

    def check_batch(self, batch: Mapping[str, np.ndarray], dtype: str, labels: bool = True):
        """Check every input of :meth:`inputs` (shape, dtype; at least one example) and,
        with ``labels``, ``batch["y"]``: integers of shape ``(n, *label_shape())`` in
        ``[0, n_classes)`` (or :data:`IGNORE_INDEX` where the loss ignores labels)."""
        inputs = self.inputs()
        if not isinstance(batch, Mapping) or any(k not in batch for k in inputs):
            got = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
            raise ContractError(f"{self.name}: a batch is a dict with {list(inputs)} (and 'y'), "
                                f"got {got}")
        n = None
        sizes: dict[int, int] = {}
        for key, (tail, kind) in inputs.items():
            a = np.asarray(batch[key])
            if a.ndim != len(tail) + 1 or not _fits(a.shape[1:], tail, sizes):
                raise ContractError(f"{self.name}: batch {key} has shape {a.shape}, expected "
                                    f"(n, {', '.join('T' if d is None else str(d) for d in tail)})")
            if kind == "float" and a.dtype.name != dtype:
                raise ContractError(f"{self.name}: batch {key} has dtype {a.dtype.name} but the "
                                    f"parameters are {dtype}; cast one of them")
            if kind == "int" and not np.issubdtype(a.dtype, np.integer):
                raise ContractError(f"{self.name}: batch {key} must hold integers, got "
                                    f"{a.dtype.name}")
            span = self.input_range(key) if kind == "int" else None
            if span is not None and a.size and (a.min() < span[0] or a.max() >= span[1]):
                bad = a[(a < span[0]) | (a >= span[1])].flat[0]
                raise ContractError(f"{self.name}: batch {key} holds {bad}, outside "
                                    f"[{span[0]}, {span[1]})")
            if n is None:
                n = a.shape[0]
            elif a.shape[0] != n:
                raise ContractError(f"{self.name}: batch {key} has {a.shape[0]} examples, "
                                    f"{next(iter(inputs))} has {n}")
        if n == 0:
            raise ContractError(f"{self.name}: the batch is empty (0 examples); a batch needs "
                                f"at least 1")
        if labels:
            self.check_labels(batch, n, sizes)

    def check_labels(self, batch: Mapping, n: int, sizes: dict | None = None) -> None:
        if "y" not in batch:
            raise ContractError(f"{self.name}: the batch has no labels under 'y'")
        y = np.asarray(batch["y"])
        tail = self.label_shape()
        if (y.ndim != len(tail) + 1 or y.shape[0] != n
                or not _fits(y.shape[1:], tail, dict(sizes or {}))
                or not np.issubdtype(y.dtype, np.integer)):
            want = ", ".join([str(n)] + ["T" if d is None else str(d) for d in tail])
            raise ContractError(f"{self.name}: labels must be integer class ids of shape "
                                f"({want},), got {y.dtype.name} {y.shape}")
        ignored = self.objective().loss == "masked_cross_entropy"
        bad = (y < 0) | (y >= self.n_classes)
        if ignored:
            bad &= y != IGNORE_INDEX
        if np.any(bad):
            allowed = f"[0, {self.n_classes})" + (f" or {IGNORE_INDEX}" if ignored else "")
            raise ContractError(f"{self.name}: labels must lie in {allowed}, got "
                                f"{y[bad].flat[0]} (min {y.min()}, max {y.max()})")


def _fits(shape, tail, sizes: dict) -> bool:
    """Whether ``shape`` matches ``tail`` (``None``: any size, the same one for every
    ``None`` at the same position across inputs, recorded in ``sizes``)."""
    for i, (got, want) in enumerate(zip(shape, tail)):
        if want is None:
            if sizes.setdefault(i, got) != got:
                return False
        elif got != want:
            return False
    return len(shape) == len(tail)


def check_batch_size(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ContractError(f"n must be an integer >= 1, got {n!r}")
    return int(n)
