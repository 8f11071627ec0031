"""What the CPU can run: ``/proc/cpuinfo``'s first processor, read once per call.

The kernel sets of :mod:`kernels.accel` differ in speed by instruction set (oneDNN's GEMM
and XLA's fused MLP trade places between AVX-512 and AVX2), so the automatic choice of a
set reads the vector extensions here; the machine line of every report does too.
"""

from __future__ import annotations

import platform


def cpuinfo() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    out: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                out[key.strip()] = value.strip()
    except OSError:
        pass
    return out


#: (cpuinfo flag, name), widest first
VECTOR_EXTENSIONS = (("avx512f", "avx512"), ("avx2", "avx2"), ("avx", "avx"),
                     ("sse2", "sse"))


def vector_isa() -> str:
    """The widest x86 vector extension the CPU reports (``"avx512"``, ``"avx2"``,
    ``"avx"``, ``"sse"``), else the architecture (``"aarch64"`` ...)."""
    flags = set(cpuinfo().get("flags", "").split())
    for flag, name in VECTOR_EXTENSIONS:
        if flag in flags:
            return name
    return platform.machine().lower()
