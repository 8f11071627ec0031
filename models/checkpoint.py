"""Checkpoints: safetensors files of canonical params (and optimizer state).

Any backend writes them and any backend reads them, since they hold the canonical
parameter dict, not a framework's native objects.  No pickles are involved.

Format ``mlsandbox-checkpoint-2`` (written since the namespaces were split)::

    tensors   "param/<name>"  one per canonical parameter
              "opt/<name>"    one per optimizer-state entry
    header    "format"   "mlsandbox-checkpoint-2"
              "meta"     JSON of the ``meta`` mapping (sorted keys, no spaces)
              "network"  spec.name          (only when saved with a spec)
              "config"   JSON of spec.config()

Every tensor lives in exactly one namespace, so a parameter may be named anything (even
``"opt/x"``) and still come back as a parameter; a tensor outside both namespaces makes
the file unreadable (:class:`~models.ContractError`).  Files of format 1 (parameters
without a prefix, optimizer state under ``"opt/"``) and plain safetensors files with no
``format`` entry are still read by the format-1 rule; a format this module does not know
is refused by name.

Guarantees of :func:`save_checkpoint`:

* checked before anything is written: parameter names and shapes (with ``spec``), every
  tensor a numeric array with a ``str`` name, ``meta`` a JSON-serialisable mapping.  A
  fault raises :class:`~models.ContractError` naming the entry;
* deterministic bytes: the same tensors and meta give the same file (tensor order is
  safetensors' own, the header's entries and the meta JSON are sorted), so files can be
  compared by hash;
* atomic: the bytes go to ``.<name>.<pid>-<random>.tmp`` beside the target, are
  ``fsync``-ed, renamed over the target, and the directory is ``fsync``-ed; a kill leaves
  either the old file or the new one.  Temporary files that such kills left behind for the
  same target (their writer's pid is dead, or they are over an hour old) are removed on
  the next save, as are safetensors' own ``.tmpXXXXXX`` files of earlier versions;
* the file gets the permissions a plain ``open(path, "w")`` would give (``0666`` less
  the umask), not the ``0600`` of a temporary file.

:func:`read_meta` reads a file's ``meta`` without loading its tensors, and
:func:`checked_meta` checks the fields a resumed training run relies on.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from kernels.fsutil import pid_alive, process_umask
from models._spec import ContractError, Spec

FORMAT = "mlsandbox-checkpoint-2"
_FORMAT_1 = "mlsandbox-checkpoint-1"
PARAM_PREFIX, OPT_PREFIX = "param/", "opt/"

#: temporary files of a killed save older than this are removed by the next save
STALE_AFTER_S = 3600.0
_HEADER_LIMIT = 100 << 20  # safetensors' own limit on the JSON header


def _contiguous(v) -> np.ndarray:
    """A C-contiguous array of ``v`` that keeps its shape (``np.ascontiguousarray`` turns a
    0-d array such as an optimizer's step count into shape (1,))."""
    a = np.asarray(v)
    return a.copy(order="C") if not a.flags.c_contiguous else a


def _tensor(group: str, name, value) -> np.ndarray:
    """``value`` as a C-contiguous numeric array, or a ContractError naming the entry."""
    if not isinstance(name, str) or not name:
        raise ContractError(f"{group} names must be non-empty strings, got {name!r}")
    try:
        a = _contiguous(value)
    except Exception as exc:  # e.g. a torch tensor that requires grad
        raise ContractError(f"{group} {name!r} is not an array ({type(value).__name__}: "
                            f"{exc}); expected a NumPy array of numbers") from None
    if a.dtype.kind not in "biuf":
        raise ContractError(f"{group} {name!r} has dtype {a.dtype} "
                            f"({type(value).__name__}); expected a NumPy array of bool, "
                            "integer or float numbers")
    return a


def _meta_json(meta) -> str:
    """``meta`` as deterministic JSON, or a ContractError saying what cannot be stored."""
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise ContractError(f"meta must be a mapping (JSON object), got {type(meta).__name__}")
    try:
        return json.dumps(dict(meta), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ContractError(f"meta is not JSON-serialisable ({exc}); store numbers, strings, "
                            "lists and dicts with string keys (convert arrays with "
                            ".tolist())") from None


def _sorted_header(blob: bytes) -> bytes:
    """``blob`` (a safetensors file) with its ``__metadata__`` entries in sorted order.

    safetensors keeps the metadata in a hash map, so its order differs from run to run;
    the tensor entries and the data are left as they are (their order is deterministic).
    The header is padded with spaces to a multiple of 8 bytes, as safetensors does.
    """
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", None)
    out = {"__metadata__": dict(sorted(meta.items()))} if meta else {}
    out.update(header)
    text = json.dumps(out, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text + blob[8 + n:]


def _sweep_stale_temps(path: Path) -> None:
    """Remove temporary files that killed saves of ``path`` left in its directory."""
    now = time.time()
    ours = re.compile(re.escape(f".{path.name}.") + r"(?:(\d+)-)?[a-z0-9_]{8}\.tmp$")
    for p in path.parent.iterdir():
        m = ours.match(p.name)
        rust_tmp = re.fullmatch(r"\.tmp[A-Za-z0-9]{6}", p.name) is not None
        if not (m or rust_tmp):
            continue
        try:
            st = p.lstat()
            if not p.is_file() or p.is_symlink():
                continue
            old = now - st.st_mtime > STALE_AFTER_S
            if m:
                pid = int(m.group(1)) if m.group(1) else None
                dead = pid is not None and pid != os.getpid() and not pid_alive(pid)
                if dead or old:
                    p.unlink()
            elif old:  # safetensors' own temporary file: only if it is one of ours
                with open(p, "rb") as f:
                    if b"mlsandbox-checkpoint-" in f.read(4096):
                        p.unlink()
        except OSError:  # gone already, or not ours to remove
            continue


def _write_atomic(path: Path, blob: bytes) -> None:
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.{os.getpid()}-",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~process_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - a platform without directory fds
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def save_checkpoint(path, params: Mapping[str, np.ndarray], *, spec: Spec | None = None,
                    opt_state: Mapping[str, np.ndarray] | None = None,
                    meta: Mapping | None = None) -> Path:
    """Write ``params`` (and ``opt_state``, ``meta``) to ``path`` atomically; return the path.

    Everything is checked, and the file's bytes built in memory, before anything is
    written (see the module docstring): a :class:`~models.ContractError` names a parameter
    table that does not match ``spec``, a tensor that is not a numeric array, or a
    ``meta`` that JSON cannot hold.
    """
    from safetensors import numpy as st_numpy

    if not isinstance(params, Mapping):
        raise ContractError(f"params must be a mapping of name -> array, got "
                            f"{type(params).__name__}")
    if opt_state is not None and not isinstance(opt_state, Mapping):
        raise ContractError(f"opt_state must be a mapping of name -> array, got "
                            f"{type(opt_state).__name__}")
    if spec is not None:
        spec.check_params(params)
    tensors = {}
    for k, v in params.items():
        a = _tensor("parameter", k, v)
        tensors[PARAM_PREFIX + k] = a
    for k, v in (opt_state or {}).items():
        a = _tensor("optimizer state entry", k, v)
        tensors[OPT_PREFIX + k] = a
    header = {"format": FORMAT, "meta": _meta_json(meta)}
    if spec is not None:
        header["network"] = spec.name
        header["config"] = _meta_json(spec.config())
    try:
        blob = st_numpy.save(tensors, metadata=header)
    except Exception as exc:  # safetensors raises its own error types
        raise ContractError(f"cannot serialise the checkpoint for {path}: {exc}") from exc
    path = Path(path)
    _write_atomic(path, _sorted_header(blob))
    return path


def _read_header(path: Path) -> dict:
    """The safetensors ``__metadata__`` of ``path`` (read without loading any tensor)."""
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 2 <= n <= _HEADER_LIMIT:
                raise ValueError(f"header length {n} out of range")
            raw = f.read(n)
            if len(raw) != n:
                raise ValueError(f"file ends inside its {n}-byte header")
        header = json.loads(raw)
        meta = header.get("__metadata__") or {}
        if not isinstance(meta, dict):
            raise ValueError("__metadata__ is not an object")
        return meta
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path} is not a readable safetensors checkpoint: "
                            f"{exc}") from None


def _decode_meta(header: Mapping, path: Path) -> dict:
    text = header.get("meta", "{}")
    try:
        meta = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"{path}: the checkpoint's metadata is corrupt (not JSON: {exc}); "
                            "the file cannot be trusted: save it again") from None
    if not isinstance(meta, dict):
        raise ContractError(f"{path}: the checkpoint's metadata is a JSON "
                            f"{type(meta).__name__}, expected an object")
    return meta


def _check_format(header: Mapping, path: Path) -> str:
    fmt = header.get("format", _FORMAT_1)
    if fmt not in (FORMAT, _FORMAT_1):
        raise ContractError(f"{path} has checkpoint format {fmt!r}; this version reads "
                            f"{FORMAT!r} and {_FORMAT_1!r} (upgrade mlsandbox to read it)")
    return fmt


def read_meta(path) -> dict:
    """The ``meta`` mapping stored in the checkpoint at ``path`` (tensors are not loaded).

    Raises :class:`FileNotFoundError` when there is no file and
    :class:`~models.ContractError` naming ``path`` when its header or metadata is corrupt
    or of an unknown format.  Check the resume fields with :func:`checked_meta`.
    """
    path = Path(path)
    header = _read_header(path)
    _check_format(header, path)
    return _decode_meta(header, path)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def checked_meta(meta: Mapping[str, Any], path=None) -> dict:
    """The resume fields of a checkpoint's ``meta``, checked; a copy of ``meta``.

    * ``epoch``: an int >= 0 (default 0 when absent);
    * ``history``: a dict of metric name -> list of numbers (NaN allowed), none longer
      than ``epoch`` (default ``{}``);
    * ``optimizer``: a str, or ``None`` when absent.

    Other entries are passed through unchanged.  A field of the wrong type or range raises
    :class:`~models.ContractError` naming ``path``, the field and the value found.
    """
    where = f"{path}: " if path is not None else ""
    if not isinstance(meta, Mapping):
        raise ContractError(f"{where}checkpoint metadata must be a mapping, got "
                            f"{type(meta).__name__}")
    out = dict(meta)
    epoch = out.get("epoch", 0)
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ContractError(f"{where}checkpoint metadata 'epoch' is {epoch!r}, expected an "
                            "int >= 0 (the number of epochs done)")
    history = out.get("history", {})
    if not isinstance(history, Mapping):
        raise ContractError(f"{where}checkpoint metadata 'history' is a "
                            f"{type(history).__name__}, expected a dict of metric -> list "
                            "of numbers")
    for k, v in history.items():
        if not isinstance(k, str) or not isinstance(v, list) or not all(map(_is_number, v)):
            raise ContractError(f"{where}checkpoint metadata 'history'[{k!r}] is {v!r:.80}, "
                                "expected a list of numbers")
        if len(v) > epoch:
            raise ContractError(f"{where}checkpoint metadata 'history'[{k!r}] has {len(v)} "
                                f"entries, more than its epoch count {epoch}")
    optimizer = out.get("optimizer")
    if optimizer is not None and not isinstance(optimizer, str):
        raise ContractError(f"{where}checkpoint metadata 'optimizer' is {optimizer!r}, "
                            "expected a str such as 'adam'")
    out["epoch"], out["history"], out["optimizer"] = epoch, dict(history), optimizer
    return out


def load_checkpoint(path, spec: Spec | None = None):
    """Read a checkpoint: ``(params, opt_state, meta)``.

    With ``spec`` the names and shapes are checked against its parameter table, and the
    network recorded in the file must be ``spec.name``; a mismatch raises
    :class:`~models.ContractError` naming what differs.  A corrupt header or metadata, a
    format this version does not know, or a tensor outside the ``param/`` and ``opt/``
    namespaces of format 2 raise :class:`~models.ContractError` naming ``path``.
    """
    from safetensors import safe_open

    path = Path(path)
    header = _read_header(path)  # FileNotFoundError, or ContractError on a bad header
    try:
        with safe_open(str(path), framework="numpy") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise ContractError(f"{path} is not a readable safetensors checkpoint: {exc}") from exc
    fmt = _check_format(header, path)
    meta = _decode_meta(header, path)
    if fmt == FORMAT:
        stray = sorted(k for k in tensors if not k.startswith((PARAM_PREFIX, OPT_PREFIX)))
        if stray:
            raise ContractError(f"{path}: tensors {stray[:5]} are outside the 'param/' and "
                                f"'opt/' namespaces of {FORMAT!r}; the file is damaged")
        params = {k[len(PARAM_PREFIX):]: v for k, v in tensors.items()
                  if k.startswith(PARAM_PREFIX)}
    else:  # format 1 / plain safetensors: everything not under "opt/" is a parameter
        params = {k: v for k, v in tensors.items() if not k.startswith(OPT_PREFIX)}
    opt_state = {k[len(OPT_PREFIX):]: v for k, v in tensors.items() if k.startswith(OPT_PREFIX)}
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
