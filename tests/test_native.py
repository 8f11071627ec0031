"""Building the C++ kernels (kernels/accel/native.py): where it looks, what it says when
something is missing, the cache, and nothing half-written after a failed compile."""

from __future__ import annotations

import hashlib
import os
import stat
import warnings

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
    # no temps; the library's sha256 recorded beside it
    assert sorted(p.name for p in (tmp_path / "native").iterdir()) == [lib.name,
                                                                       lib.name + ".sha256"]
    assert (tmp_path / "native" / (lib.name + ".sha256")).read_text().split() == [
        hashlib.sha256(lib.read_bytes()).hexdigest(), lib.name]


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


# ------------------------------------------- what is loaded: recorded hash, safe folders


@pytest.fixture
def fake_compiler(tmp_path, monkeypatch):
    """``native.build`` with a stand-in compile (``printf built > out``), so the trust
    checks are tested without a C++ compiler; the cache is ``tmp_path/cache``."""
    monkeypatch.setattr(native, "unavailable", lambda name="onednn": None)
    monkeypatch.setattr(native, "_fingerprint", lambda name: "0123456789abcdef")
    monkeypatch.setattr(native, "_command",
                        lambda name, out: ["sh", "-c", f"printf built > '{out}'"])
    monkeypatch.setenv("MLSANDBOX_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "native" / "onednn-0123456789abcdef.so"


def test_a_build_records_its_sha256(fake_compiler):
    lib = native.build("onednn")
    assert lib == fake_compiler and lib.read_bytes() == b"built"
    record = lib.with_name(lib.name + ".sha256").read_text().split()
    assert record == [hashlib.sha256(b"built").hexdigest(), lib.name]
    assert stat.S_IMODE(lib.parent.stat().st_mode) & 0o022 == 0


def test_a_planted_library_is_rebuilt_not_loaded(fake_compiler):
    lib = fake_compiler
    lib.parent.mkdir(parents=True, mode=0o700)
    lib.parent.parent.chmod(0o700)
    lib.write_bytes(b"planted code")  # no recorded sha256: never trusted
    assert native.build("onednn") == lib and lib.read_bytes() == b"built"


def test_a_library_that_differs_from_its_record_is_rebuilt_with_a_warning(fake_compiler):
    lib = native.build("onednn")
    lib.write_bytes(b"tampered")
    with pytest.warns(RuntimeWarning, match=r"its sha256 is [0-9a-f]{64}, the build recorded"):
        assert native.build("onednn") == lib
    assert lib.read_bytes() == b"built"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an intact library: no warning, no rebuild
        stamp = lib.stat().st_mtime_ns
        assert native.build("onednn") == lib and lib.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("which, mode, who", [
    ("cache", 0o777, "group and others"),
    ("cache", 0o775, "group"),
    ("native", 0o757, "others"),
    ("native", 0o1777, "group and others"),  # sticky does not help where libraries live
])
def test_a_cache_folder_others_can_write_is_refused(fake_compiler, which, mode, who):
    folder = fake_compiler.parent if which == "native" else fake_compiler.parent.parent
    fake_compiler.parent.mkdir(parents=True)
    folder.chmod(mode)
    with pytest.raises(native.NativeUnavailable) as e:
        native.build("onednn")
    message = str(e.value)
    assert f"the cache folder {folder} is writable by {who}" in message
    assert f"chmod go-w {folder}" in message and "MLSANDBOX_CACHE" in message
    assert not fake_compiler.exists()  # nothing built, nothing loaded


def test_a_sticky_world_writable_cache_is_accepted(fake_compiler):
    fake_compiler.parent.parent.mkdir(parents=True)
    fake_compiler.parent.parent.chmod(0o1777)  # like /tmp: others cannot touch native/
    assert native.build("onednn").read_bytes() == b"built"


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give a folder to another user")
def test_a_cache_folder_of_another_user_is_refused(fake_compiler):
    folder = fake_compiler.parent
    folder.mkdir(parents=True, mode=0o755)
    os.chown(folder, 65534, 65534)
    with pytest.raises(native.NativeUnavailable,
                       match=rf"{folder} belongs to user id 65534, not to you"):
        native.build("onednn")


def test_folders_created_for_the_cache_are_private_whatever_the_umask(fake_compiler):
    old = os.umask(0o000)
    try:
        native.build("onednn")
    finally:
        os.umask(old)
    for folder in (fake_compiler.parent, fake_compiler.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE(fake_compiler.stat().st_mode) == 0o755
