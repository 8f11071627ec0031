"""On a GPU: the networks against the NumPy reference, and the two float32 matmul modes.

Every parity test runs on a GPU when the frameworks see one (``MLSANDBOX_DEVICE=auto``,
:mod:`models.frameworks`); this file checks that they really computed there, that the
GPU results meet the same tolerances as the CPU's, and that ``MLSANDBOX_MATMUL=tf32``
turns TF32 on (and ``exact``, the parity mode, keeps it off).  Without a GPU every case
skips, saying which framework saw none.  ``python -m bench.gpu`` runs the whole suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import models
from mlsandbox.compare import max_rel_err, rel_err, tolerance
from models.frameworks import device

GPU_BACKENDS = ("jax", "torch", "keras")
#: network -> a small config (the dense net with batch norm and dropout, the convnet)
CASES = {"mlp": {"n_in": 32, "n_hidden": 16},
         "densenet": {"n_in": 32, "n_hidden": 16, "batchnorm": True, "dropout_rate": 0.2},
         "cnn": {"image_size": 16, "filters1": 4, "filters2": 8}}


def _gpu_or_skip(backend: str) -> None:
    found = device(backend)
    if found != "gpu":
        pytest.skip(f"no GPU: {backend} computes on {found} here (the GPU cases need a "
                    f"card and the framework's CUDA build)")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("network", CASES)
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_gpu_matches_the_reference(backend, network, dtype):
    """Forward (eval and train mode with injected masks), loss and every gradient on the
    GPU, within the parity tolerances of the CPU."""
    _gpu_or_skip(backend)
    assert models.environment(backend)["device"] == "gpu"
    config = CASES[network]
    spec = models.spec(network, **config)
    params = spec.init(seed=1, dtype=dtype)
    batch = spec.example(n=8, seed=2, dtype=dtype)
    if spec.dropout():
        batch["masks"] = spec.masks(8, seed=3)
    ref, net = models.get(network, "numpy", **config), models.get(network, backend, **config)
    for train in (False, True):
        want = ref.forward(params, batch, train=train)
        got = net.forward(params, batch, train=train)
        assert rel_err(got, want) <= tolerance(dtype)
        want_loss, want_grads = ref.loss_and_grads(params, batch, train=train)
        got_loss, got_grads = net.loss_and_grads(params, batch, train=train)
        assert rel_err(got_loss, want_loss) <= tolerance(dtype)
        assert max(max_rel_err(got_grads, want_grads).values()) <= tolerance(dtype, "grad")


PRODUCT = """
import json, sys
import numpy as np
import models
backend = sys.argv[1]
rng = np.random.default_rng(0)
a, b = rng.standard_normal((2, 512, 512))
want = a @ b
a32, b32 = a.astype(np.float32), b.astype(np.float32)
if backend == "torch":
    from models.frameworks import load_torch, torch_device
    torch = load_torch()
    d = torch_device()
    got = (torch.from_numpy(a32).to(d) @ torch.from_numpy(b32).to(d)).cpu().numpy()
elif backend == "jax":
    from models.frameworks import load_jax
    jax, jnp = load_jax()
    got = np.asarray(jnp.asarray(a32) @ jnp.asarray(b32))
else:
    from models.frameworks import load_keras
    _, tf = load_keras()
    got = tf.linalg.matmul(tf.constant(a32), tf.constant(b32)).numpy()
env = models.environment(backend)
print(json.dumps({"err": float(np.max(np.abs(got - want)) / np.max(np.abs(want))),
                  "device": env["device"], "matmul": env["matmul"]}))
"""


@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_tf32_is_named_and_off_for_parity(backend):
    """A 512 x 512 float32 product on the GPU in both modes (a fresh process each: the
    mode is set when the framework starts): ``exact`` within float32's rounding, ``tf32``
    off by TF32's 10-bit mantissa, and the mode recorded."""
    _gpu_or_skip(backend)
    out = {}
    for mode in ("exact", "tf32"):
        env = {**os.environ, "MLSANDBOX_MATMUL": mode, "MLSANDBOX_DEVICE": "gpu"}
        proc = subprocess.run([sys.executable, "-c", PRODUCT, backend], env=env,
                              capture_output=True, text=True, check=True)
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out[mode]["device"] == "gpu" and out[mode]["matmul"] == mode
    assert out["exact"]["err"] < 1e-5
    assert out["tf32"]["err"] > 1e-4, out   # TF32 rounds the inputs to 10 mantissa bits


def test_onednn_falls_back_to_xla_on_a_gpu():
    """The oneDNN kernel sets are CPU code: on a GPU they warn and run ``impl="xla"``."""
    _gpu_or_skip("jax")
    with pytest.warns(RuntimeWarning, match="oneDNN's kernels run on the CPU"):
        net = models.get("mlp", "jax", impl="onednn")
    assert net.impl == "xla"
    assert models.get("cnn", "jax", impl="auto").impl == "xla"
