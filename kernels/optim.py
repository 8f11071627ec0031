"""Optimizers, NumPy reference: one ``init`` and one ``update`` per rule.

The table :data:`OPTIMIZERS` gives each optimizer's canonical hyperparameter names and
defaults (``REQUIRED`` where there is none); every backend maps the same names onto its
own optimizer (``torch.optim``, ``optax``, ``keras.optimizers``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

REQUIRED = object()

OPTIMIZERS: dict[str, dict] = {
    "sgd": {"lr": REQUIRED, "momentum": 0.0, "nesterov": False},
}


def resolve(name: str, hyper: Mapping) -> dict:
    """Validate ``name`` and ``hyper`` against :data:`OPTIMIZERS`; return all hypers."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    table = OPTIMIZERS[name]
    unknown = sorted(set(hyper) - set(table))
    if unknown:
        raise ValueError(f"optimizer {name!r} takes {sorted(table)}, not {unknown}")
    out = {}
    for k, default in table.items():
        if k in hyper:
            out[k] = hyper[k]
        elif default is REQUIRED:
            raise ValueError(f"optimizer {name!r} needs {k}=...")
        else:
            out[k] = default
    if name == "sgd" and out["nesterov"] and not out["momentum"]:
        raise ValueError("sgd: nesterov=True needs momentum > 0")
    return out


def sgd_init(params: Mapping[str, np.ndarray], **hyper) -> dict:
    """State of SGD: a momentum buffer per parameter (empty without momentum)."""
    if not hyper.get("momentum"):
        return {}
    return {f"momentum/{k}": np.zeros_like(v) for k, v in params.items()}


def sgd_update(params, grads, state, *, lr, momentum=0.0, nesterov=False):
    """One SGD step, torch's form of momentum (optax's is the same).

    Without momentum: ``p ← p - lr·g``.
    With momentum μ: ``b ← μ·b + g`` (``b₁ = g``), then ``p ← p - lr·b``;
    Nesterov: ``p ← p - lr·(g + μ·b)``.
    Returns ``(params, state)`` as new dicts; the inputs are not modified.
    """
    new_params, new_state = {}, {}
    for k, p in params.items():
        g = grads[k]
        if momentum:
            b = state[f"momentum/{k}"]
            b = momentum * b + g
            new_state[f"momentum/{k}"] = b
            g = g + momentum * b if nesterov else b
        new_params[k] = p - lr * g
    return new_params, new_state


RULES = {"sgd": (sgd_init, sgd_update)}
