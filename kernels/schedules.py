"""Learning-rate schedules, NumPy reference.

A schedule is a frozen, hashable dataclass; ``schedule(t)`` is the learning rate of
update ``t`` (0-based: ``t`` updates were done before it), the same count optax,
``torch.optim.lr_scheduler`` (stepped once per update) and Keras (``optimizer.iterations``)
use.  Pass one as ``lr=`` to ``net.train``; every backend maps it onto its own scheduler:

====================  ==========================  ================================  ============================
schedule              optax                       torch.optim.lr_scheduler           keras.optimizers.schedules
====================  ==========================  ================================  ============================
:func:`step_decay`    ``exponential_decay``       ``StepLR``                        ``ExponentialDecay``
                      (``staircase=True``)                                          (``staircase=True``)
:func:`exponential`   ``exponential_decay``       ``ExponentialLR`` (or ``StepLR``  ``ExponentialDecay``
                                                  when staircase)
:func:`cosine`        ``cosine_decay_schedule``   ``CosineAnnealingLR``             ``CosineDecay``
====================  ==========================  ================================  ============================

>>> from kernels import schedules
>>> s = schedules.step_decay(0.1, step_size=30, gamma=0.5)
>>> float(s(29)), float(s(30))
(0.1, 0.05)

Reduce-on-plateau depends on the measured loss, not on the step, so it is a callback:
:class:`kernels.callbacks.ReduceLROnPlateau`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Base class: ``lr0`` is the learning rate of update 0."""

    lr0: float

    def __call__(self, t):
        raise NotImplementedError

    def values(self, steps: int) -> np.ndarray:
        """``[self(0), ..., self(steps - 1)]`` in float64."""
        return np.array([self(t) for t in range(steps)], dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr(t) = lr0 · gamma^⌊t / step_size⌋`` (torch ``StepLR``)."""

    step_size: int = 1
    gamma: float = 0.1

    def __call__(self, t):
        return self.lr0 * self.gamma ** (int(t) // self.step_size)


@dataclasses.dataclass(frozen=True)
class Exponential(Schedule):
    """``lr(t) = lr0 · rate^(t / decay_steps)``, or ``rate^⌊t / decay_steps⌋`` when
    ``staircase`` (optax ``exponential_decay``, Keras ``ExponentialDecay``)."""

    rate: float = 0.96
    decay_steps: int = 1
    staircase: bool = False

    def __call__(self, t):
        p = int(t) // self.decay_steps if self.staircase else int(t) / self.decay_steps
        return self.lr0 * self.rate ** p


@dataclasses.dataclass(frozen=True)
class Cosine(Schedule):
    """``lr(t) = lr0 · (alpha + (1 - alpha) · ½(1 + cos(π · min(t, T) / T)))`` with
    ``T = decay_steps``: from ``lr0`` down to ``alpha · lr0`` at ``t = T``, then flat
    (optax ``cosine_decay_schedule``, Keras ``CosineDecay``; torch's
    ``CosineAnnealingLR`` rises again after ``T``, see the conventions)."""

    decay_steps: int = 100
    alpha: float = 0.0

    def __call__(self, t):
        c = 0.5 * (1.0 + math.cos(math.pi * min(int(t), self.decay_steps) / self.decay_steps))
        return self.lr0 * ((1.0 - self.alpha) * c + self.alpha)


def _positive_int(name, v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _number(name, v, low=0.0, high=math.inf, low_open=False):
    """``v`` as a float if it is a finite real in [low, high] ((low, high] with
    ``low_open``); else ValueError naming it."""
    ok = not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.integer,
                                                               np.floating))
    if ok:
        v = float(v)
        ok = math.isfinite(v) and (v > low if low_open else v >= low) and v <= high
    if not ok:
        lo = "(" if low_open else "["
        raise ValueError(f"{name} must be a finite number in {lo}{low}, {high}], got {v!r}")
    return v


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> StepDecay:
    """Multiply the learning rate by ``gamma`` every ``step_size`` updates."""
    _positive_int("step_size", step_size)
    return StepDecay(_number("lr", lr), int(step_size), _number("gamma", gamma, low_open=True))


def exponential(lr: float, rate: float, decay_steps: int = 1,
                staircase: bool = False) -> Exponential:
    """Multiply the learning rate by ``rate`` per ``decay_steps`` updates (smoothly)."""
    _positive_int("decay_steps", decay_steps)
    return Exponential(_number("lr", lr), _number("rate", rate, low_open=True),
                       int(decay_steps), bool(staircase))


def cosine(lr: float, decay_steps: int, alpha: float = 0.0) -> Cosine:
    """Cosine decay from ``lr`` to ``alpha · lr`` over ``decay_steps`` updates."""
    _positive_int("decay_steps", decay_steps)
    return Cosine(_number("lr", lr), int(decay_steps), _number("alpha", alpha, high=1.0))


def lr_at(lr, t: int) -> float:
    """The learning rate of update ``t`` for a float or a :class:`Schedule`."""
    return lr(t) if isinstance(lr, Schedule) else lr


SCHEDULES = {"step_decay": step_decay, "exponential": exponential, "cosine": cosine}
