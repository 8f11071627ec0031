"""Checkpoint files (models/checkpoint.py): namespaces, formats, corrupt metadata, what is
refused before writing, deterministic bytes, atomic saves after kills, permissions."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import models
from models.checkpoint import (
    FORMAT,
    checked_meta,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)

SMALL = {"n_in": 6, "n_hidden": 5, "n_out": 4}
REPO = Path(__file__).resolve().parents[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def umask():
    """Set the process umask for one test, restored afterwards."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


# ------------------------------------------------------------------------- namespaces


def test_a_parameter_named_like_optimizer_state_stays_a_parameter(tmp_path):
    params = {"opt/x": np.arange(3.0), "w": np.ones((2, 2), np.float32)}
    state = {"x": np.full(3, 7.0), "step": np.array(4)}
    path = save_checkpoint(tmp_path / "c.safetensors", params, opt_state=state)
    got, got_state, meta = load_checkpoint(path)
    assert sorted(got) == ["opt/x", "w"] and sorted(got_state) == ["step", "x"]
    np.testing.assert_array_equal(got["opt/x"], params["opt/x"])
    np.testing.assert_array_equal(got_state["x"], state["x"])
    assert got_state["step"].shape == () and meta == {}


def test_format_1_files_are_still_read(tmp_path):
    spec = models.spec("mlp", **SMALL)
    params = spec.init(seed=0, dtype="float64")
    tensors = dict(params) | {"opt/step": np.array(3)}
    path = tmp_path / "old.safetensors"
    save_file(tensors, path, metadata={"format": "mlsandbox-checkpoint-1",
                                       "meta": json.dumps({"epoch": 2}), "network": "mlp"})
    got, state, meta = load_checkpoint(path, spec)
    assert sorted(got) == sorted(params) and state == {"step": np.array(3)}
    assert meta == {"epoch": 2} and read_meta(path) == {"epoch": 2}
    plain = tmp_path / "plain.safetensors"  # a safetensors file with no header at all
    save_file(params, plain)
    assert sorted(load_checkpoint(plain, spec)[0]) == sorted(params)


def test_unknown_format_and_stray_tensors_are_refused(tmp_path):
    future = tmp_path / "future.safetensors"
    save_file({"param/w": np.ones(2)}, future, metadata={"format": "mlsandbox-checkpoint-9"})
    with pytest.raises(models.ContractError, match=r"format 'mlsandbox-checkpoint-9'.*upgrade"):
        load_checkpoint(future)
    stray = tmp_path / "stray.safetensors"
    save_file({"param/w": np.ones(2), "w": np.ones(2)}, stray, metadata={"format": FORMAT})
    with pytest.raises(models.ContractError, match=r"\['w'\] are outside the 'param/' and 'opt/'"):
        load_checkpoint(stray)


# ------------------------------------------------------------------ corrupt metadata


def test_corrupt_metadata_names_the_file(tmp_path):
    path = tmp_path / "c.safetensors"
    save_file({"param/w": np.ones(2)}, path, metadata={"format": FORMAT, "meta": '{"epoch": 3'})
    for read in (load_checkpoint, read_meta):
        with pytest.raises(models.ContractError, match=f"{path}: the checkpoint's metadata is "
                                                       "corrupt"):
            read(path)
    listed = tmp_path / "list.safetensors"
    save_file({"param/w": np.ones(2)}, listed, metadata={"format": FORMAT, "meta": "[1, 2]"})
    with pytest.raises(models.ContractError, match="is a JSON list, expected an object"):
        read_meta(listed)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    with pytest.raises(models.ContractError, match=f"{garbage} is not a readable safetensors"):
        read_meta(garbage)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        read_meta(tmp_path / "missing.safetensors")


def test_read_meta_does_not_need_the_tensors(tmp_path):
    meta = {"epoch": 2, "history": {"loss": [0.5, 0.25]}, "optimizer": "adam", "seed": 1}
    path = save_checkpoint(tmp_path / "c.safetensors", {"w": np.ones(3)}, meta=meta)
    assert read_meta(path) == meta
    assert checked_meta(read_meta(path), path) == meta


def test_checked_meta_defaults():
    assert checked_meta({}) == {"epoch": 0, "history": {}, "optimizer": None}
    assert checked_meta({"epoch": 1, "history": {"val_loss": [float("nan")]}, "x": "kept"})[
        "x"] == "kept"


@pytest.mark.parametrize("meta, match", [
    ({"epoch": "3"}, r"'epoch' is '3', expected an int >= 0"),
    ({"epoch": -1}, r"'epoch' is -1"),
    ({"epoch": 2.0}, r"'epoch' is 2.0"),
    ({"epoch": True}, r"'epoch' is True"),
    ({"epoch": 1, "history": [1, 2]}, r"'history' is a list, expected a dict"),
    ({"epoch": 1, "history": {"loss": "low"}}, r"'history'\['loss'\] is 'low', expected a list"),
    ({"epoch": 1, "history": {"loss": [1, None]}}, r"'history'\['loss'\] is \[1, None\]"),
    ({"epoch": 1, "history": {"loss": [1.0, 2.0]}}, r"has 2 entries, more than its epoch count 1"),
    ({"optimizer": 3}, r"'optimizer' is 3, expected a str"),
])
def test_checked_meta_refuses_wrong_fields(meta, match):
    with pytest.raises(models.ContractError, match=r"^ckpt.safetensors: .*" + match):
        checked_meta(meta, "ckpt.safetensors")


# --------------------------------------------------- refused before anything is written


@pytest.mark.parametrize("kwargs, match", [
    ({"meta": {"when": object()}}, r"meta is not JSON-serialisable.*object"),
    ({"meta": {"w": np.ones(2)}}, r"meta is not JSON-serialisable.*\.tolist\(\)"),
    ({"meta": {1: "a", "b": 2}}, r"meta is not JSON-serialisable"),
    ({"meta": [("epoch", 1)]}, r"meta must be a mapping"),
    ({"params": {"w": "abc"}}, r"parameter 'w' has dtype <U3 \(str\)"),
    ({"params": {"w": [object()]}}, r"parameter 'w' has dtype object"),
    ({"params": {3: np.ones(2)}}, r"parameter names must be non-empty strings, got 3"),
    ({"params": {"w": np.ones(2, complex)}}, r"parameter 'w' has dtype complex128"),
    ({"opt_state": {"m": {"nested": 1}}}, r"optimizer state entry 'm' has dtype object"),
    ({"opt_state": [1, 2]}, r"opt_state must be a mapping"),
])
def test_bad_contents_are_refused_before_writing(tmp_path, kwargs, match):
    args = {"params": {"w": np.ones(2)}} | kwargs
    params = args.pop("params")
    with pytest.raises(models.ContractError, match=match):
        save_checkpoint(tmp_path / "sub" / "c.safetensors", params, **args)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ deterministic bytes


SAVE_SCRIPT = """
import sys, numpy as np, models
spec = models.spec("mlp", n_in=6, n_hidden=5, n_out=4)
params = spec.init(seed=0, dtype="float32")
models.save_checkpoint(sys.argv[1], params, spec=spec, opt_state={"step": np.array(2)},
                       meta={"epoch": 1, "history": {"loss": [0.5]}, "optimizer": "adam",
                             "hyper": {"lr": 0.001, "b": 2}})
"""


def test_the_same_contents_give_the_same_bytes(tmp_path):
    spec = models.spec("mlp", **SMALL)
    params = spec.init(seed=0, dtype="float32")
    meta = {"hyper": {"lr": 0.001, "b": 2}, "optimizer": "adam", "epoch": 1,
            "history": {"loss": [0.5]}}
    hashes = set()
    for i in range(5):
        path = save_checkpoint(tmp_path / f"c{i}.safetensors", params, spec=spec,
                               opt_state={"step": np.array(2)}, meta=meta)
        hashes.add(sha256(path))
    subprocess.run([sys.executable, "-c", SAVE_SCRIPT, str(tmp_path / "other.safetensors")],
                   check=True, cwd=REPO, timeout=120)
    hashes.add(sha256(tmp_path / "other.safetensors"))  # another process, other hash seeds
    assert len(hashes) == 1
    got, state, back = load_checkpoint(tmp_path / "other.safetensors", spec)
    assert back == meta and int(state["step"]) == 2
    raw = (tmp_path / "c0.safetensors").read_bytes()
    assert (8 + int.from_bytes(raw[:8], "little")) % 8 == 0  # data stays 8-byte aligned


# ----------------------------------------------------------------- atomic and durable


def test_save_fsyncs_the_file_and_the_directory(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    save_checkpoint(tmp_path / "c.safetensors", {"w": np.ones(2)})
    assert synced == [False, True]  # the file before the rename, the directory after


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(tmp_path / "c.safetensors", {"w": np.ones(2)})
    assert list(tmp_path.iterdir()) == []


def test_stale_temporary_files_are_swept_on_the_next_save(tmp_path):
    target = tmp_path / "c.safetensors"
    two_hours_ago = time.time() - 7200
    dead = tmp_path / ".c.safetensors.999999999-abcd1234.tmp"  # writer pid cannot exist
    old = tmp_path / ".c.safetensors.k3j4l5m6.tmp"  # an earlier version's name, no pid
    live = tmp_path / f".c.safetensors.{os.getpid()}-x1234567.tmp"  # a save in progress
    other = tmp_path / ".d.safetensors.999999999-abcd1234.tmp"  # another target's
    rust_ours = tmp_path / ".tmpAb12Cd"  # safetensors' own temp file, ours
    rust_other = tmp_path / ".tmpZz99Yy"  # same pattern, somebody else's
    notes = tmp_path / ".c.safetensors.notes.tmp"  # not a temp name of ours
    for p in (dead, old, live, other, notes):
        p.write_bytes(b"partial")
    rust_ours.write_bytes(b"\x40\0\0\0\0\0\0\0{\"__metadata__\":{\"format\":"
                          b"\"mlsandbox-checkpoint-1\"")
    rust_other.write_bytes(b"something else")
    for p in (old, rust_ours, rust_other, notes):
        os.utime(p, (two_hours_ago, two_hours_ago))
    save_checkpoint(target, {"w": np.ones(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [target.name, live.name, other.name, rust_other.name, notes.name])


KILL_SCRIPT = """
import sys, numpy as np
from models.checkpoint import save_checkpoint
params = {f"w{i}": np.full((256, 1024), i, np.float64) for i in range(10)}  # 20 MB
print("ready", flush=True)
while True:
    save_checkpoint(sys.argv[1], params, meta={"epoch": 1})
"""


def test_kills_during_saves_leave_the_file_whole_and_no_temps(tmp_path):
    target = tmp_path / "c.safetensors"
    for delay in (0.05, 0.2, 0.35, 0.5, 0.65):
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(target)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        if target.exists():  # either absent (killed before the first rename) or whole
            params, _, meta = load_checkpoint(target)
            assert len(params) == 10 and meta == {"epoch": 1}
    save_checkpoint(target, {"w": np.ones(2)})  # sweeps what the dead writers left
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# ----------------------------------------------------------------------- permissions


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_the_file_mode_follows_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    path = save_checkpoint(tmp_path / "c.safetensors", {"w": np.ones(2)})
    assert path.stat().st_mode & 0o777 == mode
