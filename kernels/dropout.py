"""Inverted dropout with an explicit mask, NumPy reference.

Train mode: ``y = x · m / (1 - rate)`` with ``m`` a 0/1 mask of ``x``'s shape (each unit
kept with probability 1 - rate), so ``E[y] = x`` and evaluation needs no rescaling; eval
mode: ``y = x``.  torch, Keras and Flax all scale this way.  The mask is an argument:
random masks cannot match across RNGs, so tests inject one.
"""

from __future__ import annotations

import numpy as np


def dropout_mask(shape, rate: float, rng: np.random.Generator, dtype="float64") -> np.ndarray:
    """A 0/1 mask keeping each unit with probability ``1 - rate``."""
    return (rng.random(shape) >= rate).astype(dtype)


def dropout_forward(x: np.ndarray, mask: np.ndarray | None, rate: float):
    """``x · mask / (1 - rate)``, or ``x`` when ``mask`` is None (eval mode).
    Returns ``(y, cache)``."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if mask is None:
        return x, None
    if mask.shape != x.shape:
        raise ValueError(f"dropout mask has shape {mask.shape}, its input {x.shape}")
    scaled = mask.astype(x.dtype) / x.dtype.type(1.0 - rate)
    return x * scaled, scaled


def dropout_backward(dy: np.ndarray, cache):
    """``dL/dx = dy · mask / (1 - rate)`` (the same scaled mask), ``dy`` in eval mode."""
    return dy if cache is None else dy * cache
