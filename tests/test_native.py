"""Building the C++ kernels (kernels/accel/native.py): where it looks, what it says when
something is missing, the cache, and nothing half-written after a failed compile."""

from __future__ import annotations

import os

import pytest

import models
from kernels.accel import native

needs_build = pytest.mark.skipif(native.unavailable() is not None,
                                 reason=f"the oneDNN kernels cannot be built: {native.unavailable()}")


def test_missing_onednn_is_named_with_the_remedy(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSANDBOX_ONEDNN_ROOT", str(tmp_path))
    reason = native.unavailable("onednn")
    if reason is not None and "compiler" in reason:
        pytest.skip(reason)
    assert reason is not None and "oneDNN not found" in reason and str(tmp_path) in reason
    assert "pip install onednn-devel-cpu-gomp" in reason
    with pytest.raises(native.NativeUnavailable, match=r"cnn/jax impl='onednn': oneDNN not"):
        models.get("cnn", "jax", impl="onednn")
    with pytest.raises(native.NativeUnavailable, match="onednn: oneDNN not found"):
        native.build("onednn")


def test_missing_compiler_is_named(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    reason = native.unavailable("onednn")
    assert reason is not None and "no C++ compiler: no-such-compiler-here" in reason
    # the networks still build with the kernel sets that need no compiler
    assert models.get("cnn", "jax", impl="fast").impl == "fast"


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSANDBOX_CACHE", str(tmp_path / "c"))
    assert native.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MLSANDBOX_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert native.cache_dir() == tmp_path / "x" / "mlsandbox"


@needs_build
def test_build_once_then_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSANDBOX_CACHE", str(tmp_path))
    lib = native.build("onednn")
    assert lib.parent == tmp_path / "native" and lib.name.startswith("onednn-")
    assert lib.suffix == ".so" and lib.stat().st_size > 0
    stamp = lib.stat().st_mtime_ns
    assert native.build("onednn") == lib and lib.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (tmp_path / "native").iterdir()) == [lib.name]  # no temps


@needs_build
def test_a_failed_compile_says_why_and_leaves_nothing(tmp_path, monkeypatch):
    csrc = tmp_path / "csrc"
    csrc.mkdir()
    (csrc / "onednn.cc").write_text("#include <cstdint>\nthis is not C++;\n")
    monkeypatch.setattr(native, "CSRC", csrc)
    monkeypatch.setenv("MLSANDBOX_CACHE", str(tmp_path / "cache"))
    with pytest.raises(native.NativeUnavailable, match=r"compiling onednn.cc failed") as e:
        native.build("onednn")
    assert "error" in str(e.value)  # the compiler's own message is passed on
    assert os.listdir(tmp_path / "cache" / "native") == []


@needs_build
def test_an_unwritable_cache_is_named(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLSANDBOX_CACHE", str(blocker / "cache"))
    with pytest.raises(native.NativeUnavailable, match="set MLSANDBOX_CACHE to a writable"):
        native.build("onednn")
