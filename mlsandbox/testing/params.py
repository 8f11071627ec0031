"""Random parameters for parity runs that must be far from any init's symmetries."""

from __future__ import annotations

import numpy as np


def random_params(spec, seed=0, dtype="float64", scale=0.5):
    """Every entry of ``spec``'s table N(0, scale²) (LayerNorm weights 1 + N(0, 0.2²)),
    tied copies equal to their sources, in the table's order."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, shape in spec.param_shapes().items():
        if k in spec.tied():
            continue
        a = rng.standard_normal(shape)
        out[k] = (1 + 0.2 * a if ".LayerNorm.weight" in k else scale * a).astype(dtype)
    out = spec.tie(out)
    return {k: out[k] for k in spec.param_shapes()}
