"""The device and matmul-mode settings (``MLSANDBOX_DEVICE``, ``MLSANDBOX_MATMUL``) as a
machine without a GPU sees them: bad values refused by name, ``gpu`` refused where no
framework sees one, the choice recorded, TF32 switched by the mode, the oneDNN sets'
fallback on a GPU, and ``python -m bench.gpu`` stopping before it writes anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import models
from models import frameworks
from models.adapters import jax_accel

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env})


def _has_gpu(backend: str) -> bool:
    return frameworks.device(backend) == "gpu"


@pytest.mark.parametrize("env, value, read", [
    ("MLSANDBOX_DEVICE", "cuda", frameworks.wanted_device),
    ("MLSANDBOX_MATMUL", "fp16", frameworks.matmul_mode),
])
def test_bad_values_are_refused_by_name(monkeypatch, env, value, read):
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError, match=f"{env}='{value}': expected one of"):
        read()


def test_defaults(monkeypatch):
    monkeypatch.delenv("MLSANDBOX_DEVICE", raising=False)
    monkeypatch.delenv("MLSANDBOX_MATMUL", raising=False)
    assert (frameworks.wanted_device(), frameworks.matmul_mode()) == ("auto", "exact")


@pytest.mark.parametrize("backend", models.BACKENDS)
def test_the_device_and_matmul_mode_are_recorded(backend):
    env = models.environment(backend)
    assert env["device"] in ("cpu", "gpu") and env["matmul"] == frameworks.matmul_mode()
    if backend == "numpy":
        assert env["device"] == "cpu"


def test_torch_refuses_gpu_without_one(monkeypatch):
    if _has_gpu("torch"):
        pytest.skip("torch sees a GPU here")
    monkeypatch.setenv("MLSANDBOX_DEVICE", "gpu")
    with pytest.raises(frameworks.NoGpu, match="MLSANDBOX_DEVICE=gpu, but torch sees no "
                                               "GPU .*torch.cuda.is_available"):
        models.get("mlp", "torch")


@pytest.mark.parametrize("backend", ["jax", "keras"])
def test_jax_and_keras_refuse_gpu_without_one(backend):
    """In a fresh process: the device is fixed when the framework starts."""
    probe = _python(f"import models; print(models.environment({backend!r})['device'])")
    if probe.stdout.strip().endswith("gpu"):
        pytest.skip(f"{backend} sees a GPU here")
    proc = _python(f"import models; models.environment({backend!r})", MLSANDBOX_DEVICE="gpu")
    assert proc.returncode != 0
    assert "NoGpu: MLSANDBOX_DEVICE=gpu, but" in proc.stderr and "sees no GPU" in proc.stderr


@pytest.mark.parametrize("backend", ["jax", "torch", "keras"])
def test_cpu_hides_the_gpus(backend):
    proc = _python(f"import models, json; e = models.environment({backend!r}); "
                   f"print(json.dumps([e['device'], e['matmul']]))",
                   MLSANDBOX_DEVICE="cpu", MLSANDBOX_MATMUL="tf32")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["cpu", "tf32"]


def test_tf32_mode_switches_every_framework():
    """``tf32`` turns TF32 on in torch, TensorFlow and JAX; ``exact`` keeps it off."""
    code = ("import json; from models.frameworks import load_torch, load_keras, load_jax; "
            "t = load_torch(); _, tf = load_keras(); jax, _ = load_jax(); "
            "print(json.dumps([t.backends.cuda.matmul.allow_tf32, t.backends.cudnn.allow_tf32,"
            " tf.config.experimental.tensor_float_32_execution_enabled(),"
            " jax.config.jax_default_matmul_precision]))")
    got = {}
    for mode in ("exact", "tf32"):
        proc = _python(code, MLSANDBOX_MATMUL=mode)
        assert proc.returncode == 0, proc.stderr[-2000:]
        got[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"exact": [False, False, False, "highest"],
                   "tf32": [True, True, True, "tensorfloat32"]}


def test_onednn_sets_fall_back_to_xla_on_a_gpu(monkeypatch):
    """What a GPU machine does (JAX's device stood in for): ``impl="onednn"`` warns and
    runs ``xla``; ``impl="auto"`` picks ``xla``; the pure-XLA sets stay as asked."""
    monkeypatch.setattr(jax_accel, "on_gpu", lambda: True)
    with pytest.warns(RuntimeWarning, match="impl='onednn': oneDNN's kernels run on the "
                                            "CPU and JAX computes on a GPU here"):
        net = models.get("tinyvgg", "jax", impl="onednn")
    assert net.impl == "xla"
    assert models.get("mlp", "jax", impl="auto").impl == "xla"
    assert models.get("cnn", "jax", impl="fast").impl == "fast"


def test_bench_gpu_stops_without_a_gpu(tmp_path):
    """``python -m bench.gpu`` on a machine without a GPU: exit 2 naming each framework
    that sees none; nothing run, nothing written."""
    doc = ROOT / "docs" / "performance.md"
    before = doc.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "bench.gpu", "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        pytest.skip("every framework sees a GPU here")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "bench.gpu: no GPU for " in proc.stderr and "Nothing was run or written" in \
        proc.stderr
    assert "torch: " in proc.stderr and "MLSANDBOX_DEVICE=gpu, but torch sees no GPU" in \
        proc.stderr
    assert doc.read_bytes() == before and not (tmp_path / "o").exists()


def test_a_generated_table_goes_between_its_markers(tmp_path):
    """How ``bench.gpu`` writes the GPU table into docs/performance.md."""
    from mlsandbox.report import replace_marked

    begin, end = "<!-- GPU table: written by python -m bench.gpu -->", "<!-- /GPU table -->"
    assert begin in (ROOT / "docs" / "performance.md").read_text()
    doc = tmp_path / "perf.md"
    doc.write_text(f"# head\n\n{begin}\nold\n{end}\n\ntail\n")
    replace_marked(doc, begin, end, "| a | b |\n|---|---|")
    assert doc.read_text() == f"# head\n\n{begin}\n| a | b |\n|---|---|\n{end}\n\ntail\n"
    doc.write_text(f"{end}\n{begin}\n")
    with pytest.raises(ValueError, match="markers .* are missing or out of order"):
        replace_marked(doc, begin, end, "x")
    assert doc.read_text() == f"{end}\n{begin}\n" and not list(tmp_path.glob("*.tmp"))
