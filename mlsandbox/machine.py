"""The machine a figure came from, said the same way in every report and benchmark.

Timings on small shared machines move with the load and the instruction set (oneDNN and
XLA pick different kernels on AVX-512 and AVX2), so every figure we print carries both.
"""

from __future__ import annotations

import os
import platform
import time
from contextlib import contextmanager
from typing import Iterator, NamedTuple


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (:func:`kernels.cpu.cpuinfo`)."""
    from kernels.cpu import cpuinfo

    return cpuinfo()


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


def info() -> dict:
    """The CPU as recorded beside a figure: ``{"cpu", "vendor", "instruction_set",
    "cores"}`` (what :func:`line` prints; the benchmarks store it in ``extra_info``)."""
    return {"cpu": cpu_name(), "vendor": vendor(), "instruction_set": instruction_set(),
            "cores": os.cpu_count()}


def line(recorded: dict | None = None) -> str:
    """One line naming a machine: CPU (vendor), instruction set, cores, e.g.
    ``"Intel(R) Xeon(R) Processor (GenuineIntel), AVX-512, 2 cores"``.  ``recorded`` is a
    dict like :func:`info`'s, e.g. read back from a benchmark file (default: this
    machine); missing fields are left out."""
    d = info() if recorded is None else recorded
    cpu = str(d.get("cpu") or "unknown CPU")
    if d.get("vendor") and str(d["vendor"]) not in cpu:
        cpu += f" ({d['vendor']})"
    parts = [cpu]
    if d.get("instruction_set"):
        parts.append(str(d["instruction_set"]))
    if d.get("cores"):
        parts.append(f"{d['cores']} cores")
    return ", ".join(parts)


def load() -> float:
    """The 1-minute load average (NaN where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return float("nan")


#: a figure was taken "under load" when other processes kept more than this many cores
#: busy on average while it ran (see :func:`measure_load`)
LOADED_CORES = 0.25


class CpuSample(NamedTuple):
    """One reading for :func:`load_between`: wall clock, this process's CPU seconds (all
    its threads), the machine's busy and total CPU seconds summed over its cores (from
    ``/proc/stat``; NaN where there is none), and the 1-minute load average."""

    wall: float
    own: float
    busy: float
    total: float
    load: float


def _proc_stat() -> tuple[float, float]:
    """``(busy, total)`` CPU seconds over all cores since boot, from the ``cpu`` line of
    ``/proc/stat`` (user nice system idle iowait irq softirq steal ...; idle and iowait
    count as idle, the rest, the hypervisor's steal included, as busy)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return float("nan"), float("nan")
    if not fields or fields[0] != "cpu":
        return float("nan"), float("nan")
    ticks = [int(v) for v in fields[1:9]]
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    idle = ticks[3] + ticks[4]
    total = sum(ticks)
    return (total - idle) / hz, total / hz


def cpu_sample() -> CpuSample:
    """A reading of the machine's CPU use now (pair two with :func:`load_between`)."""
    busy, total = _proc_stat()
    return CpuSample(time.monotonic(), time.process_time(), busy, total, load())


def load_between(before: CpuSample, after: CpuSample) -> dict:
    """The load a piece of work ran under, between two :func:`cpu_sample` readings:

    ``load_before`` / ``load_after`` (1-minute load averages), ``seconds`` (wall),
    ``busy_cores`` (cores busy on average, every process), ``own_cores`` (this process's
    share), ``other_busy_cores`` (the rest: other processes, the hypervisor's steal) and
    ``under_load`` (``other_busy_cores > LOADED_CORES``).  NaN where ``/proc/stat`` is
    missing.
    """
    cores = os.cpu_count() or 1
    wall = after.wall - before.wall
    span = after.total - before.total
    busy = (after.busy - before.busy) / span * cores if span > 0 else float("nan")
    own = (after.own - before.own) / wall if wall > 0 else float("nan")
    other = max(0.0, busy - own) if busy == busy and own == own else float("nan")
    out = {"load_before": round(before.load, 2), "load_after": round(after.load, 2),
           "seconds": round(wall, 3), "cores": cores, "busy_cores": round(busy, 3),
           "own_cores": round(own, 3), "other_busy_cores": round(other, 3)}
    out["under_load"] = under_load(out)
    return out


def under_load(measured: dict | None) -> bool:
    """Whether a :func:`load_between` record says other processes kept more than
    :data:`LOADED_CORES` cores busy (False for a missing or NaN record)."""
    other = (measured or {}).get("other_busy_cores")
    return isinstance(other, (int, float)) and other == other and other > LOADED_CORES


@contextmanager
def measure_load() -> Iterator[dict]:
    """``with measure_load() as load: work()``: afterwards ``load`` holds
    :func:`load_between` over the block (empty inside it)."""
    measured: dict = {}
    before = cpu_sample()
    try:
        yield measured
    finally:
        measured.update(load_between(before, cpu_sample()))


def summary() -> str:
    """One line: this machine's :func:`line` and its load now, e.g. ``"Intel(R) Xeon(R)
    Processor (GenuineIntel), AVX-512, 2 cores, load 0.8"``."""
    return f"{line()}, load {load():.1f}"


def matmul_peak(dtype: str = "float32", n: int = 2048, repeats: int = 3) -> dict:
    """The fastest matrix product measured on this machine: ``{"flops_per_s", "by"}``,
    the best of ``repeats`` n x n products (after one untimed) in NumPy's BLAS and, where
    installed, torch's; the rate a step's FLOPs would run at if all ran at the peak."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    products = {"NumPy": lambda: a @ b}
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        products["torch"] = lambda: ta @ tb
    except ImportError:
        pass
    best, by = 0.0, ""
    for name, product in products.items():
        product()
        for _ in range(repeats):
            t0 = time.perf_counter()
            product()
            rate = 2 * n ** 3 / (time.perf_counter() - t0)
            if rate > best:
                best, by = rate, name
    return {"flops_per_s": best, "by": by, "n": n, "dtype": dtype}
