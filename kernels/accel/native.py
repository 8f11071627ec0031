"""The C++ kernels in ``kernels/accel/csrc``: found, compiled once, loaded, registered.

A kernel here is an XLA FFI handler (``xla/ffi/api/ffi.h``, shipped in jaxlib's
``include`` folder) linked against oneDNN.  Nothing is compiled at install time: the
first use compiles the source with the system's C++ compiler (``$CXX`` or ``g++``, a few
seconds) into a cache folder and later uses load it from there.  The library's file name
carries a hash of everything that went into it (source, compiler, flags, jaxlib and
oneDNN), so a change to any of them builds a new one; a build is written under a
temporary name and renamed into place, so an interrupted build leaves nothing half
written.

Where things are looked for:

* oneDNN: ``$MLSANDBOX_ONEDNN_ROOT``, then this Python's prefix (where the PyPI wheels
  ``onednn-devel-cpu-gomp`` / ``onednn-cpu-gomp``, dependencies of this project on
  Linux x86_64, put ``include/oneapi/dnnl`` and ``lib/libdnnl.so``), then ``/usr/local``
  and ``/usr`` (Debian's ``libdnnl-dev``);
* the cache: ``$MLSANDBOX_CACHE``, else ``$XDG_CACHE_HOME/mlsandbox``, else
  ``~/.cache/mlsandbox``; libraries go in its ``native/`` folder.

A library is code this process runs, so nothing is loaded by file name alone:

* beside each library its build records ``<library>.sha256``; before loading, the file
  is hashed and compared.  A library with no record, a different hash, or that is not
  yours or is writable by others is rebuilt (replacing it atomically; a mismatch also
  warns), never loaded;
* the cache folder must be yours (or root's) and not writable by group or others unless
  it has the sticky bit (as ``/tmp``); ``native/`` must be yours and writable by you
  alone.  Otherwise :class:`NativeUnavailable` names the folder and the remedy
  (``chmod go-w <folder>``, or ``MLSANDBOX_CACHE`` pointing at a folder of your own).

:func:`unavailable` says why a kernel cannot be built here (``None`` when it can), so
callers and tests can say so instead of failing deep inside a compile.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from kernels.fsutil import process_umask

CSRC = Path(__file__).with_name("csrc")
FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-w")

#: kernel name -> (source file in csrc/, libraries to link, FFI targets it defines)
KERNELS = {
    "onednn": ("onednn.cc", ("dnnl",),
               ("mlsandbox_conv_fwd", "mlsandbox_conv_bias_relu_fwd", "mlsandbox_conv_bwd_data",
                "mlsandbox_conv_bwd_weights", "mlsandbox_matmul", "mlsandbox_pool_fwd",
                "mlsandbox_pool_bwd")),
}


class NativeUnavailable(RuntimeError):
    """A C++ kernel cannot be built or loaded here; the message says what is missing."""


def cache_dir() -> Path:
    if os.environ.get("MLSANDBOX_CACHE"):
        return Path(os.environ["MLSANDBOX_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlsandbox"


def onednn_root() -> Path | None:
    """The first prefix holding both oneDNN's headers and its shared library."""
    env = os.environ.get("MLSANDBOX_ONEDNN_ROOT")
    candidates = [Path(env)] if env else [Path(sys.prefix), Path("/usr/local"), Path("/usr")]
    for root in candidates:
        header = root / "include" / "oneapi" / "dnnl" / "dnnl.hpp"
        libs = [root / "lib", root / "lib" / "x86_64-linux-gnu", root / "lib64"]
        if header.is_file() and any(any(d.glob("libdnnl.so*")) for d in libs if d.is_dir()):
            return root
    return None


def _libdir(root: Path) -> Path:
    for d in (root / "lib", root / "lib" / "x86_64-linux-gnu", root / "lib64"):
        if d.is_dir() and any(d.glob("libdnnl.so*")):
            return d
    raise NativeUnavailable(f"no libdnnl.so under {root}")


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++"))


def unavailable(name: str = "onednn") -> str | None:
    """Why kernel ``name`` cannot be used in this process, or ``None`` if it can."""
    if sys.platform != "linux":
        return f"the C++ kernels are built for Linux only (this is {sys.platform})"
    if _compiler() is None:
        return (f"no C++ compiler: {os.environ.get('CXX', 'g++')} is not on PATH "
                "(install g++ or set CXX)")
    if "dnnl" in KERNELS[name][1] and onednn_root() is None:
        where = os.environ.get("MLSANDBOX_ONEDNN_ROOT") or f"{sys.prefix}, /usr/local, /usr"
        return ("oneDNN not found (include/oneapi/dnnl/dnnl.hpp and lib/libdnnl.so under "
                f"{where}); pip install onednn-devel-cpu-gomp==2023.2.0, or apt-get install "
                "libdnnl-dev, or set MLSANDBOX_ONEDNN_ROOT")
    return None


def _command(name: str, out: Path) -> list[str]:
    import jax.ffi

    source, libs, _ = KERNELS[name]
    root = onednn_root()
    cmd = [_compiler(), *FLAGS, str(CSRC / source), "-o", str(out),
           f"-I{jax.ffi.include_dir()}"]
    if root is not None and "dnnl" in libs:
        libdir = _libdir(root)
        cmd += [f"-I{root / 'include'}", f"-L{libdir}", f"-Wl,-rpath,{libdir}"]
    return cmd + [f"-l{lib}" for lib in libs]


def _fingerprint(name: str) -> str:
    import jaxlib

    source = (CSRC / KERNELS[name][0]).read_bytes()
    version = subprocess.run([_compiler(), "--version"], capture_output=True, text=True).stdout
    parts = [source, version.encode(), jaxlib.__version__.encode(),
             " ".join(_command(name, Path("out"))).encode()]
    root = onednn_root()
    if root is not None:
        header = root / "include" / "oneapi" / "dnnl" / "dnnl_version.h"
        parts.append(header.read_bytes() if header.is_file() else b"")
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _record(lib: Path) -> Path:
    """Where the sha256 of ``lib`` is recorded."""
    return lib.with_name(lib.name + ".sha256")


def _check_folder(path: Path, name: str, *, sticky_ok: bool) -> None:
    """Refuse a folder that another user owns or may write to (see the module docstring)."""
    st = path.stat()
    uid = os.getuid()
    if st.st_uid not in (uid, 0):
        raise NativeUnavailable(
            f"{name}: the cache folder {path} belongs to user id {st.st_uid}, not to you "
            f"(uid {uid}); a library there could be anyone's and is never loaded. Set "
            "MLSANDBOX_CACHE to a folder of your own")
    others = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if others and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        who = " and ".join(w for w, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH))
                           if st.st_mode & bit)
        raise NativeUnavailable(
            f"{name}: the cache folder {path} is writable by {who} (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); another user could plant a library there, "
            f"so none is loaded from it. Run `chmod go-w {path}`, or set MLSANDBOX_CACHE "
            "to a folder only you can write to")


def _trusted(lib: Path) -> str | None:
    """Why ``lib`` may not be loaded as it is (``None`` when it may)."""
    st = lib.lstat()
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid not in (os.getuid(), 0) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "not yours alone to write"
    try:
        recorded = _record(lib).read_text().split()[0]
    except (OSError, IndexError):
        return "no sha256 recorded"
    actual = _sha256(lib)
    if actual != recorded:
        return f"its sha256 is {actual}, the build recorded {recorded}"
    return None


def build(name: str = "onednn") -> Path:
    """The compiled library of kernel ``name``, compiling it first if it is not cached.

    A cached library is returned only when its sha256 equals the one its build recorded
    and the cache folders pass the checks of the module docstring; otherwise it is
    rebuilt (or :class:`NativeUnavailable` says why the folder cannot be trusted).
    """
    reason = unavailable(name)
    if reason is not None:
        raise NativeUnavailable(f"{name}: {reason}")
    root = cache_dir()
    folder = root / "native"
    target = folder / f"{name}-{_fingerprint(name)}.so"
    try:  # folders we create are writable by us alone, whatever the umask
        for missing in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
            try:
                missing.mkdir(mode=0o755)
            except FileExistsError:  # made meanwhile by another process
                continue
            os.chmod(missing, 0o755 & ~process_umask())
    except OSError as e:
        raise NativeUnavailable(f"{name}: cannot create the cache folder {folder} ({e}); "
                                "set MLSANDBOX_CACHE to a writable folder") from None
    _check_folder(root, name, sticky_ok=True)
    _check_folder(folder, name, sticky_ok=False)
    if target.exists() or target.is_symlink():
        why = _trusted(target)
        if why is None:
            return target
        if why != "no sha256 recorded":
            warnings.warn(f"{target}: {why}; rebuilding it", RuntimeWarning, stacklevel=2)
    with tempfile.TemporaryDirectory(dir=folder, prefix=f".{name}-") as tmp:
        out = Path(tmp) / target.name
        done = subprocess.run(_command(name, out), capture_output=True, text=True)
        if done.returncode != 0:
            raise NativeUnavailable(f"{name}: compiling {KERNELS[name][0]} failed "
                                    f"({' '.join(_command(name, out))}):\n"
                                    f"{done.stderr[-4000:]}")
        os.chmod(out, 0o755 & ~process_umask())  # writable by us alone, else it would be rebuilt
        _record(out).write_text(f"{_sha256(out)}  {target.name}\n")
        os.replace(out, target)  # a kill between the two renames: no record, rebuilt
        os.replace(_record(out), _record(target))
    return target


@functools.lru_cache(maxsize=None)
def load(name: str = "onednn") -> ctypes.CDLL:
    """Builds (if needed) and loads kernel ``name`` and registers its FFI targets for the
    CPU platform; once per process."""
    import jax.ffi

    lib = ctypes.CDLL(str(build(name)))  # build() has checked the file's sha256
    for target in KERNELS[name][2]:
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, target)),
                                    platform="cpu")
    return lib
