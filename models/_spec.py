"""What every network declares once: its config, parameter table, init and examples.

A network's ``spec.py`` subclasses :class:`Spec` (a frozen dataclass of its config) and
fills in :meth:`param_shapes`, :meth:`init` and :meth:`example`.  Framework differences
that make outputs differ on purpose are listed in ``conventions`` as :class:`Convention`
entries; each has a test that shows it.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Mapping

import numpy as np

FLOAT_DTYPES = ("float32", "float64")


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


def check_dtype(dtype) -> str:
    name = np.dtype(dtype).name
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

    def state_names(self) -> tuple[str, ...]:
        """Entries of the parameter table that are non-trainable state (batch norm's
        ``"bn.moving_mean"``, ``"bn.moving_variance"``): carried in the params dict,
        updated by training in train mode, never given a gradient.  None by default."""
        return ()

    def trainable(self) -> tuple[str, ...]:
        """The parameter names that get gradients, in table order."""
        state = set(self.state_names())
        return tuple(k for k in self.param_shapes() if k not in state)

    def dropout(self) -> dict[str, float]:
        """``{layer name: rate}`` of the dropout layers; a train-mode batch may carry
        ``batch["masks"][name]``, a 0/1 array of that layer input's shape."""
        return {}

    def example(self, n: int = 8, seed: int = 0, dtype="float64") -> dict[str, np.ndarray]:
        """A random batch ``{"x": (n, *input_shape), "y": (n,) int64}``."""
        dtype = check_dtype(dtype)
        if n < 1:
            raise ContractError(f"n must be at least 1, got {n}")
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
        return check_dtype(dtypes.pop())

    def check_batch(self, batch: Mapping[str, np.ndarray], dtype: str, labels: bool = True):
        """Check ``batch["x"]`` (n, *input_shape) of ``dtype`` and ``batch["y"]`` (n,) ints."""
        if not isinstance(batch, Mapping) or "x" not in batch:
            raise ContractError(f"{self.name}: a batch is a dict with 'x' (and 'y'), "
                                f"got {type(batch).__name__}")
        x = np.asarray(batch["x"])
        want = self.input_shape()
        if x.ndim != len(want) + 1 or x.shape[1:] != tuple(want):
            raise ContractError(f"{self.name}: batch x has shape {x.shape}, expected "
                                f"(n, {', '.join(map(str, want))})")
        if x.dtype.name != dtype:
            raise ContractError(f"{self.name}: batch x has dtype {x.dtype.name} but the "
                                f"parameters are {dtype}; cast one of them")
        if labels:
            if "y" not in batch:
                raise ContractError(f"{self.name}: the batch has no labels under 'y'")
            y = np.asarray(batch["y"])
            if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
                raise ContractError(f"{self.name}: labels must be integer class ids of shape "
                                    f"({x.shape[0]},), got {y.dtype.name} {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= self.n_classes):
                raise ContractError(f"{self.name}: labels must lie in [0, {self.n_classes}), "
                                    f"got min {y.min()} max {y.max()}")
