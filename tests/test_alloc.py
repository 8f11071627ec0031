"""The tuned allocator (mlsandbox.alloc): detection, the environment it sets, the one-time
re-exec, and that glibc really honours the tunables (measured with ``mallinfo2``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlsandbox import alloc

needs_glibc = pytest.mark.skipif(not alloc.can_tune(), reason="needs Linux with glibc")


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("GLIBC_TUNABLES", "LD_PRELOAD", "MALLOC_CONF", alloc.GUARD,
                        alloc.OPT_OUT)}
    env.update(extra)
    return env


def _python(code, env, *args):
    return subprocess.run([sys.executable, *args, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


def test_tunables_keep_other_settings_and_override_malloc_ones():
    got = alloc.tunables_string("glibc.malloc.tcache_count=0:glibc.malloc.arena_max=8")
    items = dict(i.split("=") for i in got.split(":"))
    assert items == {"glibc.malloc.tcache_count": "0", **alloc.TUNABLES}


def test_tuned_env_marks_the_guard_and_leaves_the_input_alone():
    base = {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"}
    env = alloc.tuned_env(base)
    assert env[alloc.GUARD] == "1" and env["PATH"] == "/bin"
    assert alloc.is_tuned(env) and not alloc.is_tuned(base)
    assert base == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"}


def test_describe_names_each_allocator():
    assert alloc.describe({}) == "glibc malloc, default"
    assert alloc.describe(alloc.tuned_env({})).startswith("glibc malloc, tuned (GLIBC_TUNABLES=")
    partly = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=1"}
    assert alloc.describe(partly).startswith("glibc malloc, partly tuned")
    je = {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
          "MALLOC_CONF": alloc.JEMALLOC_CONF}
    assert alloc.describe(je) == f"jemalloc (MALLOC_CONF={alloc.JEMALLOC_CONF})"
    assert alloc.is_tuned(je)


def test_jemalloc_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(alloc, "find_jemalloc", lambda: None)
    with pytest.raises(FileNotFoundError, match="apt-get install libjemalloc2"):
        alloc.tuned_env({}, jemalloc=True)


MALLINFO = """
import ctypes, numpy as np
class M(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd usmblks "
                                              "fsmblks uordblks fordblks keepcost").split()]
libc = ctypes.CDLL(None); libc.mallinfo2.restype = M
a = np.ones(64 * 2**20 // 8)           # 64 MB from malloc
m = libc.mallinfo2()
del a
after = libc.mallinfo2()
print(m.hblkhd >> 20, m.arena >> 20, after.arena >> 20)
"""


@needs_glibc
def test_glibc_honours_the_tunables():
    """By default glibc serves a 64 MB block with mmap (``hblkhd``) and unmaps it on free;
    tuned, the block comes from the heap (``arena``), which keeps it after the free."""
    default = _python(MALLINFO, _clean_env())
    assert default.returncode == 0, default.stderr
    mmapped, heap, _ = map(int, default.stdout.split())
    assert mmapped >= 64 and heap < 64
    tuned = _python(MALLINFO, alloc.tuned_env(_clean_env()))
    assert tuned.returncode == 0, tuned.stderr
    mmapped, heap, heap_after_free = map(int, tuned.stdout.split())
    assert mmapped == 0 and heap >= 64 and heap_after_free >= 64


REEXEC = """
import os
from mlsandbox import alloc
alloc.reexec_tuned()
print(os.getpid(), alloc.is_tuned(), alloc.describe())
"""


@needs_glibc
def test_reexec_runs_the_command_once_under_the_tuned_allocator():
    out = _python(REEXEC, _clean_env())
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, lines  # re-executed exactly once, no loop
    assert lines[0].split(" ", 2)[1:] == ["True", alloc.describe(alloc.tuned_env({}))]
    assert "re-running under the tuned allocator" in out.stderr


@needs_glibc
def test_reexec_respects_the_opt_out():
    out = _python(REEXEC, _clean_env(**{alloc.OPT_OUT: "0"}))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(" ", 2)[1:] == ["False", "glibc malloc, default\n"]
    assert out.stderr == ""


@needs_glibc
def test_module_runs_any_command_under_the_tuned_allocator():
    code = "from mlsandbox import alloc; print(alloc.is_tuned())"
    out = subprocess.run([sys.executable, "-m", "mlsandbox.alloc", sys.executable, "-c", code],
                         env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "True\n"
    missing = subprocess.run([sys.executable, "-m", "mlsandbox.alloc", "no-such-command-xyz"],
                             env=_clean_env(), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 127 and "command not found" in missing.stderr


@needs_glibc
@pytest.mark.parametrize("flag, tuned", [([], True), (["--no-tuned-alloc"], False)])
def test_the_mlsandbox_command_reexecs_unless_told_not_to(flag, tuned):
    code = ("import sys; sys.argv = ['mlsandbox', *sys.argv[1:]]; "
            "from mlsandbox.cli import main; from mlsandbox import alloc; "
            "print('tuned' if alloc.is_tuned() else 'default', file=sys.stderr); "
            "sys.exit(main())")
    out = subprocess.run([sys.executable, "-c", code, *flag, "study", "--list"],
                         env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "mlp" in out.stdout
    assert out.stderr.strip().splitlines()[-1] == ("tuned" if tuned else "default")
    assert ("re-running under the tuned allocator" in out.stderr) == tuned
