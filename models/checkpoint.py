"""Checkpoints: safetensors files of canonical params (and optimizer state).

Any backend writes them and any backend reads them, since they hold the canonical
parameter dict, not a framework's native objects.  A file is written to a temporary name
in the same directory and renamed into place, so a failed save leaves nothing behind.
Optimizer state is stored under the prefix ``"opt/"``; metadata (network, config, step,
anything JSON-serialisable) goes to the safetensors header.  No pickles are involved.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from models._spec import ContractError, Spec


def _contiguous(v) -> np.ndarray:
    """A C-contiguous array of ``v`` that keeps its shape (``np.ascontiguousarray`` turns a
    0-d array such as an optimizer's step count into shape (1,))."""
    a = np.asarray(v)
    return a.copy(order="C") if not a.flags.c_contiguous else a


def save_checkpoint(path, params: Mapping[str, np.ndarray], *, spec: Spec | None = None,
                    opt_state: Mapping[str, np.ndarray] | None = None,
                    meta: Mapping | None = None) -> Path:
    """Write ``params`` (and ``opt_state``) to ``path`` atomically; return the path."""
    from safetensors.numpy import save_file

    if spec is not None:
        spec.check_params(params)
    tensors = {k: _contiguous(v) for k, v in params.items()}
    for k, v in (opt_state or {}).items():
        tensors[f"opt/{k}"] = _contiguous(v)
    header = {"format": "mlsandbox-checkpoint-1", "meta": json.dumps(dict(meta or {}))}
    if spec is not None:
        header["network"] = spec.name
        header["config"] = json.dumps(spec.config())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path, spec: Spec | None = None):
    """Read a checkpoint: ``(params, opt_state, meta)``.

    With ``spec`` the names and shapes are checked against its parameter table, and the
    network recorded in the file must be ``spec.name``; a mismatch raises
    :class:`~models.ContractError` naming what differs.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise ContractError(f"{path} is not a readable safetensors checkpoint: {exc}") from exc
    params = {k: v for k, v in tensors.items() if not k.startswith("opt/")}
    opt_state = {k[4:]: v for k, v in tensors.items() if k.startswith("opt/")}
    meta = json.loads(header.get("meta", "{}"))
    if spec is not None:
        stored = header.get("network")
        if stored is not None and stored != spec.name:
            raise ContractError(f"{path} holds a {stored!r} checkpoint, expected {spec.name!r}")
        try:
            spec.check_params(params)
        except ContractError as exc:
            raise ContractError(f"{path}: {exc}") from None
        params = {k: params[k] for k in spec.param_shapes()}
    return params, opt_state, meta
