"""The machine line printed beside every figure (mlsandbox.machine)."""

from __future__ import annotations

import os
import platform

from mlsandbox import machine


def test_summary_names_cpu_instruction_set_cores_and_load():
    line = machine.summary()
    assert machine.cpu_name() in line
    assert f"{os.cpu_count()} cores" in line
    assert "load " in line
    isa = machine.instruction_set()
    assert isa.removesuffix("+AMX") in ("AVX-512", "AVX2", "AVX", "SSE", platform.machine())


def test_instruction_set_reads_the_cpu_flags(monkeypatch):
    for flags, want in (("fpu sse2 avx avx2 avx512f", "AVX-512"), ("sse2 avx avx2", "AVX2"),
                        ("sse2", "SSE"), ("avx2 avx512f amx_tile", "AVX-512+AMX")):
        monkeypatch.setattr(machine, "_cpuinfo", lambda f=flags: {"flags": f})
        assert machine.instruction_set() == want
