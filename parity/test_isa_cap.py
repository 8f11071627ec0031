"""An AVX-512 machine capped to AVX2 runs what an AVX2 machine runs (issue: JAX on every
CPU).  ``MLSANDBOX_MAX_ISA=avx2`` caps oneDNN (torch's, TensorFlow's and our kernels'),
ATen's vector kernels and XLA:CPU together (models/frameworks.py); each framework then
reports the cap it took (``models.environment(backend)["isa"]``), our oneDNN kernels pick
their AVX2 implementations, and the networks still agree with the NumPy reference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlsandbox import machine

SCRIPT = r"""
import json, numpy as np, models
from mlsandbox.compare import rel_err
out = {b: models.environment(b)["isa"] for b in models.BACKENDS}
spec = models.spec("cnn", image_size=16)
params = spec.init(0, "float32")
batch = spec.example(n=4, seed=1, dtype="float32")
want = models.get("cnn", "numpy", image_size=16).forward(params, batch)
out["errors"] = {b: rel_err(models.get("cnn", b, image_size=16).forward(params, batch), want)
                 for b in ("jax", "torch", "keras")}
from kernels.accel import native
if native.unavailable() is None:
    from kernels.accel import conv
    out["onednn"] = conv.implementation("forward", (8, 16, 16, 8), (3, 3, 8, 8))
    net = models.get("cnn", "jax", image_size=16, impl="onednn")
    out["errors"]["jax-onednn"] = rel_err(net.forward(params, batch), want)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def capped():
    if machine.instruction_set().removesuffix("+AMX") not in ("AVX-512", "AVX2"):
        pytest.skip(f"the CPU is {machine.instruction_set()}: no AVX2 to cap to")
    env = {**os.environ, "MLSANDBOX_MAX_ISA": "avx2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"):
        env.pop(k, None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_framework_reports_the_cap(capped):
    assert capped["torch"] == "avx2"          # ATen's dispatch level
    assert capped["jax"] == "avx2"            # --xla_cpu_max_isa
    assert capped["keras"] == "avx2"          # TensorFlow's oneDNN
    assert capped["numpy"] == "native"        # NumPy's BLAS is not capped


def test_our_onednn_kernels_run_avx2(capped):
    if "onednn" not in capped:
        pytest.skip("oneDNN kernels unavailable here")
    assert "avx2" in capped["onednn"] and "avx512" not in capped["onednn"], capped["onednn"]


def test_capped_networks_agree_with_the_reference(capped):
    from mlsandbox.compare import tolerance

    for backend, err in capped["errors"].items():
        assert err <= tolerance("float32"), (backend, err)


def test_unknown_cap_is_refused():
    from models.frameworks import cap_isa

    with pytest.raises(ValueError, match="expected one of \\['avx2', 'avx512'\\]"):
        cap_isa("sse9")
