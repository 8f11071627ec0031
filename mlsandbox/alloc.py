"""The memory allocator every backend runs under: detect it, and re-run a command under a
tuned one.

Why: XLA:CPU allocates its buffers over about 32 MB afresh on every call, and glibc's
default malloc serves blocks that large with ``mmap`` and returns them with ``munmap``,
so every call of a jitted JAX function page-faults its working set in again.  On this
project's 2-core CPU that alone made the Flax TinyVGG Adam step 79 ms instead of about
41 ms.  An allocator that keeps freed memory fixes it, and it moves the peers too (torch
channels-last TinyVGG 22.8 -> 14.4 ms), so benchmarks hold the allocator constant across
backends and record it.

The tuned allocator is glibc's own malloc with three tunables (nothing to install)::

    GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=4294967296:\\
glibc.malloc.trim_threshold=68719476736

(one arena; blocks under 4 GiB come from the heap, not ``mmap``; freed memory is trimmed
back to the OS only past 64 GiB).  jemalloc with ``MALLOC_CONF=dirty_decay_ms:-1,
muzzy_decay_ms:-1`` does the same where ``libjemalloc`` is installed (``--jemalloc``).
The cost is memory: the process keeps its peak heap until it exits.

glibc reads ``GLIBC_TUNABLES`` once, when the process starts, so setting it from Python is
too late: :func:`reexec_tuned` re-executes the current command once with it set (guarded
by :data:`GUARD` so it cannot loop), and ``python -m mlsandbox.alloc CMD ...`` runs any
command under it::

    python -m mlsandbox.alloc pytest bench --benchmark-only --benchmark-group-by=group
    python -m mlsandbox.alloc                  # print the allocator of this process

The ``mlsandbox`` command re-executes itself this way unless given ``--no-tuned-alloc`` or
``MLSANDBOX_TUNED_ALLOC=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys
from pathlib import Path
from typing import Mapping

#: the glibc malloc tunables of the tuned allocator
TUNABLES = {
    "glibc.malloc.arena_max": "1",
    "glibc.malloc.mmap_threshold": "4294967296",
    "glibc.malloc.trim_threshold": "68719476736",
}
#: jemalloc's equivalent (never give memory back)
JEMALLOC_CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1"
#: set in the environment of a re-executed command; a second re-exec is refused
GUARD = "MLSANDBOX_ALLOC_REEXEC"
#: ``0`` turns the automatic re-exec of the ``mlsandbox`` command off
OPT_OUT = "MLSANDBOX_TUNED_ALLOC"


def tunables_string(existing: str = "") -> str:
    """``GLIBC_TUNABLES`` with :data:`TUNABLES` set and any other tunables of
    ``existing`` (``"a=1:b=2"``) kept."""
    merged = {}
    for item in filter(None, existing.split(":")):
        key, _, value = item.partition("=")
        merged[key] = value
    merged.update(TUNABLES)
    return ":".join(f"{k}={v}" for k, v in merged.items())


def find_jemalloc() -> str | None:
    """The path of ``libjemalloc.so*`` when installed (Debian: ``libjemalloc2``)."""
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
              "/usr/lib", "/usr/local/lib"):
        for name in ("libjemalloc.so.2", "libjemalloc.so"):
            if (Path(d) / name).exists():
                return str(Path(d) / name)
    name = ctypes.util.find_library("jemalloc")
    return name


def tuned_env(environ: Mapping[str, str] | None = None, *, jemalloc: bool = False) -> dict:
    """A copy of ``environ`` (default ``os.environ``) with the tuned allocator set and
    :data:`GUARD` marked.  ``jemalloc=True`` preloads jemalloc instead of tuning glibc
    (FileNotFoundError naming the package when it is not installed)."""
    env = dict(os.environ if environ is None else environ)
    if jemalloc:
        lib = find_jemalloc()
        if lib is None:
            raise FileNotFoundError("jemalloc is not installed (Debian/Ubuntu: apt-get "
                                    "install libjemalloc2); the glibc tunables need nothing")
        env["LD_PRELOAD"] = ":".join(filter(None, [lib, env.get("LD_PRELOAD", "")]))
        env["MALLOC_CONF"] = JEMALLOC_CONF
    else:
        env["GLIBC_TUNABLES"] = tunables_string(env.get("GLIBC_TUNABLES", ""))
    env[GUARD] = "1"
    return env


#: the allocator variables as this process started (os.environ at import time; glibc
#: read them before Python did).  Not /proc/self/environ: glibc cuts GLIBC_TUNABLES short
#: there while parsing it.
_START = {k: os.environ[k] for k in ("GLIBC_TUNABLES", "LD_PRELOAD", "MALLOC_CONF")
          if k in os.environ}


def start_environ() -> dict:
    """The allocator variables this process was started with (see :data:`_START`)."""
    return dict(_START)


def _loaded(name: str) -> bool:
    try:
        return name in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def describe(environ: Mapping[str, str] | None = None) -> str:
    """The allocator of this process in words, e.g. ``"glibc malloc, tuned (GLIBC_TUNABLES
    =...)"``, ``"jemalloc (MALLOC_CONF=...)"`` or ``"glibc malloc, default"``.

    Read from the environment the process started with (``environ`` overrides it, for
    tests) and, for a preloaded allocator, from the libraries actually mapped.
    """
    env = start_environ() if environ is None else dict(environ)
    preload = env.get("LD_PRELOAD", "")
    if "jemalloc" in preload and (environ is not None or _loaded("jemalloc")):
        return f"jemalloc (MALLOC_CONF={env.get('MALLOC_CONF', 'default')})"
    if "tcmalloc" in preload and (environ is not None or _loaded("tcmalloc")):
        return "tcmalloc"
    tunables = env.get("GLIBC_TUNABLES", "")
    if any(k in tunables for k in TUNABLES):
        state = "tuned" if is_tuned(env) else "partly tuned"
        return f"glibc malloc, {state} (GLIBC_TUNABLES={tunables})"
    return "glibc malloc, default"


def is_tuned(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the process started under the tuned allocator (all of :data:`TUNABLES`, or
    jemalloc with :data:`JEMALLOC_CONF`)."""
    env = start_environ() if environ is None else dict(environ)
    if "jemalloc" in env.get("LD_PRELOAD", ""):
        return env.get("MALLOC_CONF", "") == JEMALLOC_CONF
    given = dict(item.partition("=")[::2] for item in
                 filter(None, env.get("GLIBC_TUNABLES", "").split(":")))
    return all(given.get(k) == v for k, v in TUNABLES.items())


def can_tune() -> bool:
    """glibc on Linux: the tunables exist (glibc >= 2.26)."""
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def reexec_tuned(argv: list[str] | None = None, *, announce: bool = True) -> None:
    """Re-execute this Python command under the tuned allocator, once.

    Returns (does nothing) when the process already runs tuned, when it is a re-executed
    child already (:data:`GUARD`), when :data:`OPT_OUT` is ``0``, or when the libc is not
    glibc.  Otherwise it replaces the process (``os.execve``) with the same interpreter,
    the same interpreter options and ``argv`` (default: the original command line), and
    says so on stderr when ``announce``.
    """
    if (is_tuned() or os.environ.get(GUARD) or os.environ.get(OPT_OUT, "1") == "0"
            or not can_tune()):
        return
    cmd = list(sys.orig_argv) if argv is None else [sys.executable, *argv]
    env = tuned_env()
    if announce:
        print(f"mlsandbox: re-running under the tuned allocator "
              f"(GLIBC_TUNABLES={env['GLIBC_TUNABLES']}; --no-tuned-alloc or "
              f"{OPT_OUT}=0 to skip)", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *cmd[1:]], env)


def main(argv: list[str] | None = None) -> int:
    """``python -m mlsandbox.alloc [--jemalloc] [CMD ...]``: run CMD under the tuned
    allocator, or print this process's allocator and the tuned settings."""
    args = list(sys.argv[1:] if argv is None else argv)
    jemalloc = False
    if args[:1] == ["--jemalloc"]:
        jemalloc, args = True, args[1:]
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if not args:
        print(f"allocator of this process: {describe()}")
        print(f"tuned: GLIBC_TUNABLES={tunables_string()}")
        print(f"       or LD_PRELOAD={find_jemalloc() or '<libjemalloc not installed>'} "
              f"MALLOC_CONF={JEMALLOC_CONF}")
        return 0
    if not jemalloc and not can_tune():
        print("mlsandbox.alloc: the C library is not glibc; running the command as it is",
              file=sys.stderr)
        env = dict(os.environ)
    else:
        try:
            env = tuned_env(jemalloc=jemalloc)
        except FileNotFoundError as exc:
            print(f"mlsandbox.alloc: error: {exc}", file=sys.stderr)
            return 1
    try:
        os.execvpe(args[0], args, env)
    except FileNotFoundError:
        print(f"mlsandbox.alloc: error: command not found: {args[0]!r}", file=sys.stderr)
        return 127


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
