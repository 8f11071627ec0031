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


def test_load_between_counts_the_other_processes():
    # 2 cores for 2 s: 4 CPU-seconds in all; the machine was busy 3, this process 1
    before = machine.CpuSample(wall=10.0, own=5.0, busy=100.0, total=400.0, load=0.5)
    after = machine.CpuSample(wall=12.0, own=7.0, busy=103.0, total=404.0, load=1.5)
    cores = os.cpu_count()
    got = machine.load_between(before, after)
    assert got["load_before"] == 0.5 and got["load_after"] == 1.5 and got["seconds"] == 2.0
    assert got["busy_cores"] == round(3 / 4 * cores, 3)
    assert got["own_cores"] == 1.0
    assert got["other_busy_cores"] == round(max(0.0, 3 / 4 * cores - 1.0), 3)
    assert got["under_load"] is machine.under_load(got)
    assert machine.under_load({"other_busy_cores": machine.LOADED_CORES + 0.01})
    assert not machine.under_load({"other_busy_cores": machine.LOADED_CORES})
    assert not machine.under_load({}) and not machine.under_load({"other_busy_cores": float("nan")})


def test_measure_load_fills_its_record_after_the_block():
    with machine.measure_load() as load:
        assert load == {}
        sum(range(10_000))
    assert {"load_before", "load_after", "busy_cores", "own_cores", "other_busy_cores",
            "under_load"} <= set(load)


def test_line_names_cpu_vendor_instruction_set_and_cores():
    assert machine.line({"cpu": "AMD EPYC 9R14", "vendor": "AuthenticAMD",
                         "instruction_set": "AVX-512", "cores": 2}) == \
        "AMD EPYC 9R14 (AuthenticAMD), AVX-512, 2 cores"
    assert machine.line({"cpu": "Apple M2"}) == "Apple M2"
    assert machine.summary().startswith(machine.line())
