"""The machine a figure came from, said the same way in every report and benchmark.

Timings on small shared machines move with the load and the instruction set (oneDNN and
XLA pick different kernels on AVX-512 and AVX2), so every figure we print carries both.
"""

from __future__ import annotations

import os
import platform


def _cpuinfo() -> dict[str, str]:
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


def cpu_name() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def vendor() -> str:
    """``GenuineIntel``, ``AuthenticAMD``, ... (the architecture where there is none)."""
    return _cpuinfo().get("vendor_id") or platform.machine()


def instruction_set() -> str:
    """The widest x86 vector extension the CPU reports ("AVX-512", "AVX2", "AVX",
    "SSE"), with "+AMX" where it has Intel's matrix tiles, else the architecture
    (``aarch64``...)."""
    flags = set(_cpuinfo().get("flags", "").split())
    amx = "+AMX" if "amx_tile" in flags else ""
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"),
                       ("sse2", "SSE")):
        if flag in flags:
            return name + amx
    return platform.machine()


def load() -> float:
    """The 1-minute load average (NaN where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return float("nan")


def summary() -> str:
    """One line: CPU, instruction set, cores, load, e.g. ``"Intel(R) Xeon(R) Processor,
    AVX-512, 2 cores, load 0.8"``."""
    return (f"{cpu_name()}, {instruction_set()}, {os.cpu_count()} cores, "
            f"load {load():.1f}")
