"""``impl="auto"``: the JAX kernel set picked per network from the machine's vector ISA,
by the measured rule of ``models/adapters/jax_accel.AUTO``."""

from __future__ import annotations

import pytest

import models
from kernels import cpu
from kernels.accel import native
from models.adapters import jax_accel

pytestmark = pytest.mark.jax


@pytest.mark.parametrize("isa,cap,onednn,want", [
    ("avx512", None, True, {"mlp": "onednn", "tinyvgg": "onednn", "cnn": "onednn"}),
    ("avx512", "avx2", True, {"mlp": "fused", "tinyvgg": "onednn", "cnn": "onednn"}),
    ("avx2", None, True, {"mlp": "fused", "tinyvgg": "onednn", "cnn": "onednn"}),
    ("avx512", None, False, {"mlp": "fused", "tinyvgg": "fast", "cnn": "fast"}),
    ("aarch64", None, True, {"mlp": "fused", "tinyvgg": "fast", "cnn": "fast"}),
])
def test_auto_follows_the_measured_rule(monkeypatch, isa, cap, onednn, want):
    monkeypatch.setattr(cpu, "vector_isa", lambda: isa)
    if cap:
        monkeypatch.setenv("MLSANDBOX_MAX_ISA", cap)
    else:
        monkeypatch.delenv("MLSANDBOX_MAX_ISA", raising=False)
    monkeypatch.setattr(native, "unavailable",
                        lambda name="onednn": None if onednn else "no compiler")
    assert {n: jax_accel.auto_impl(n) for n in want} == want


def test_auto_builds_the_picked_set():
    net = models.get("mlp", "jax", n_in=16, impl="auto")
    assert net.impl == jax_accel.auto_impl("mlp") != "auto"
    assert "impl='" + net.impl + "'" in repr(net)


def test_vector_isa_names_the_widest_extension(monkeypatch):
    monkeypatch.setattr(cpu, "cpuinfo", lambda: {"flags": "sse2 avx avx2 avx512f"})
    assert cpu.vector_isa() == "avx512"
    monkeypatch.setattr(cpu, "cpuinfo", lambda: {"flags": "sse2 avx avx2"})
    assert cpu.vector_isa() == "avx2"
