"""The parity policy, in one place.

Metric per tensor: ``max|got - want| / max(1, max|want|)``.  Tolerances by dtype and by
what is compared (the README's parity policy; ``docs/conventions.md`` for the measured
differences):

=========  ==================  ==========
dtype      forward and loss    gradients
=========  ==================  ==========
float64    1e-10               1e-10
float32    1e-5                1e-4
=========  ==================  ==========

Training trajectories are compared with :data:`TRAJECTORY` (float64 only): rounding
compounds over hundreds of steps, so the issue sets 1e-8 for losses and 1e-9 for
optimizer trajectories; these are separate named entries, never a loosened default.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

TOLERANCE = {
    ("float64", "value"): 1e-10,
    ("float64", "grad"): 1e-10,
    ("float32", "value"): 1e-5,
    ("float32", "grad"): 1e-4,
}

#: Per-step agreement of training runs in float64 (losses of a 500-step GD run: 1e-8;
#: parameters and losses of 100-step optimizer runs: 1e-9).
TRAJECTORY = {"gd_loss": 1e-8, "optimizer": 1e-9}


def tolerance(dtype, kind: str = "value") -> float:
    """Tolerance for ``dtype`` ("float32"/"float64") and ``kind`` ("value" or "grad")."""
    key = (np.dtype(dtype).name, kind)
    if key not in TOLERANCE:
        raise ValueError(f"no parity tolerance for dtype={key[0]!r}, kind={kind!r}; "
                         f"expected one of {sorted(TOLERANCE)}")
    return TOLERANCE[key]


def rel_err(got, want) -> float:
    """``max|got - want| / max(1, max|want|)``, computed in float64."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise ValueError(f"shape mismatch: got {got.shape}, want {want.shape}")
    if want.size == 0:
        return 0.0
    if not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def max_rel_err(got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray]) -> dict:
    """Per-key :func:`rel_err` of two dicts with the same keys."""
    if set(got) != set(want):
        raise KeyError(f"keys differ: only in got {sorted(set(got) - set(want))}, "
                       f"only in want {sorted(set(want) - set(got))}")
    return {k: rel_err(got[k], want[k]) for k in want}


def assert_close(got, want, tol: float, what: str = "value") -> None:
    """Raise AssertionError naming ``what`` and the error when ``rel_err > tol``.

    ``got`` and ``want`` may be arrays or dicts of arrays (then every key is checked and
    all failing keys are reported together).
    """
    if isinstance(want, Mapping):
        errs = max_rel_err(got, want)
        bad = {k: e for k, e in errs.items() if not e <= tol}
        if bad:
            lines = ", ".join(f"{k}: {e:.3g}" for k, e in sorted(bad.items()))
            raise AssertionError(f"{what}: relative error above {tol:g} in {lines}")
        return
    e = rel_err(got, want)
    if not e <= tol:
        raise AssertionError(f"{what}: relative error {e:.3g} above {tol:g}")
