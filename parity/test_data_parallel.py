"""Data-parallel training equals one device: 20 steps on two simulated devices (JAX's
``jax.sharding``, Keras's ``MirroredStrategy``) or two gloo ranks (torch's
``DistributedDataParallel``) against the same 20 steps on one, float64 within 1e-10,
for every case of :mod:`mlsandbox.testing.parallel` (dense, batch-norm, conv and BERT
nets, dropout masks injected).  The only allowed cause of a difference is the order of
the reductions, and it stays below 1e-13.

Where a framework's engine changes the numbers by design, the test pins the difference
and its size (docs/conventions.md): torch's batch norm on CPU normalizes each replica
with its own shard's statistics; torch and Keras draw each replica's own dropout masks.
The framework facts behind the scaling are pinned too: DDP averages the replicas'
gradients, Keras's loss objects divide by the replica count inside a replica, and
MirroredStrategy sums the replicas' gradients.

Each framework runs in a fresh process (the device count is fixed when a framework
starts), once for the module.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import models
from mlsandbox.compare import TRAJECTORY, assert_close, rel_err, tolerance
from mlsandbox.testing import parallel
from models import ContractError

PARALLEL = [b for b in models.BACKENDS if models.get("mlp", b).DATA_PARALLEL]
MODULE = {"jax": "jax", "torch": "torch", "keras": "tensorflow"}
EXACT = tolerance("float64")


def _param(backend, *rest):
    return pytest.param(backend, *rest, marks=getattr(pytest.mark, backend),
                        id="-".join([backend, *rest]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``backend -> the NPZ of mlsandbox.testing.parallel``, run on first use."""
    cache = {}

    def get(backend):
        if backend not in cache:
            if importlib.util.find_spec(MODULE[backend]) is None:
                pytest.skip(f"{MODULE[backend]} is not installed")
            out = tmp_path_factory.mktemp("dp") / f"{backend}.npz"
            env = {**os.environ, "MLSANDBOX_CPU_DEVICES": str(parallel.DEVICES),
                   "TF_CPP_MIN_LOG_LEVEL": "2"}
            proc = subprocess.run([sys.executable, "-m", "mlsandbox.testing.parallel",
                                   backend, str(out)], env=env, capture_output=True,
                                  text=True, timeout=900)
            assert proc.returncode == 0, proc.stderr[-4000:]
            cache[backend] = dict(np.load(out))
        return cache[backend]

    return get


def _result(z, case, devices):
    prefix = f"{case}/{devices}/"
    return {k[len(prefix):]: v for k, v in z.items() if k.startswith(prefix)}


#: (backend, case) pairs that differ by the framework's design (the tests below)
BY_DESIGN = {("torch", c) for c in parallel.PER_REPLICA_BATCH_NORM} | {
    ("torch", "cnn-own-dropout"), ("keras", "cnn-own-dropout")}

SAME = [_param(b, c) for b in PARALLEL for c in parallel.CASES if (b, c) not in BY_DESIGN]


@pytest.mark.parametrize("backend,case", SAME)
def test_two_devices_equal_one(runs, backend, case):
    z = runs(backend)
    one, two = _result(z, case, 1), _result(z, case, parallel.DEVICES)
    assert set(one) == set(two) and len(one["losses"]) == parallel.STEPS
    assert_close(two["losses"], one["losses"], EXACT, f"{backend}/{case} step losses")
    assert_close({k: two[k] for k in one if k != "losses"},
                 {k: one[k] for k in one if k != "losses"}, EXACT, f"{backend}/{case} params")


@pytest.mark.parametrize("backend", [_param(b) for b in PARALLEL])
def test_one_device_equals_the_reference(runs, backend):
    """The single-device side of the comparison is the reference's trajectory (SGD with
    momentum: every framework's form of it agrees while the rate is constant)."""
    case = "densenet-l2-dropout"
    ref = parallel.train(models.REFERENCE, case, 1)
    one = _result(runs(backend), case, 1)
    assert_close(one["losses"], ref["losses"], TRAJECTORY["optimizer"], f"{backend}/{case}")


@pytest.mark.torch
def test_convention_torch_batch_norm_is_per_replica(runs):
    """torch's BatchNorm on CPU normalizes each replica with its shard's statistics
    (SyncBatchNorm runs on GPUs only): the first step's gradient is the mean of the
    shards' own single-device gradients, exactly, and not the global batch's."""
    z = runs("torch")
    for case in parallel.PER_REPLICA_BATCH_NORM:
        ddp = _result(z, f"fact/first-step/{case}", parallel.DEVICES)
        assert_close(ddp, _result(z, "fact", "shard-mean/" + case), EXACT,
                     f"torch/{case}: DDP gradient vs the shards' mean")
        gap = max(rel_err(ddp[k], v) for k, v in _result(z, f"fact/first-step/{case}", 1)
                  .items())
        assert 1e-3 < gap < 1.0, gap      # measured 9.1e-2 (batch 32 in two shards of 16)
        one, two = _result(z, case, 1), _result(z, case, parallel.DEVICES)
        drift = rel_err(two["losses"], one["losses"])
        assert 1e-3 < drift < 1.0, drift  # measured 5.5e-2 after 20 steps


@pytest.mark.parametrize("backend", [_param(b) for b in ("torch", "keras") if b in PARALLEL])
def test_convention_own_dropout_is_per_replica(runs, backend):
    """Without injected masks, torch's and Keras's replicas draw their own masks from
    ``(seed, step, rank)``: a run differs from the single-device one, as two runs of
    different seeds do, and stays a valid run (its losses finite and near)."""
    z = runs(backend)
    one, two = _result(z, "cnn-own-dropout", 1), _result(z, "cnn-own-dropout", 2)
    gap = rel_err(two["losses"], one["losses"])
    assert 1e-6 < gap < 0.5, gap          # measured 2.7e-2 (torch), 2.1e-2 (Keras)


@pytest.mark.jax
def test_jax_own_dropout_is_the_global_batchs(runs):
    """JAX's sharded step is the single-device program: the masks it draws from
    ``fold_in(key, step)`` are those of the global batch."""
    z = runs("jax")
    assert_close(_result(z, "cnn-own-dropout", 2)["losses"],
                 _result(z, "cnn-own-dropout", 1)["losses"], EXACT, "jax own dropout")


@pytest.mark.torch
def test_torch_ranks_draw_different_masks(runs):
    draws = runs("torch")["fact/rank-draws"]
    assert draws.shape == (parallel.DEVICES, 4) and not np.allclose(draws[0], draws[1])


@pytest.mark.torch
def test_fact_ddp_averages_gradients(runs):
    """Rank r's loss is (r + 1)·Σx·w: after backward every rank holds the mean, 1.5."""
    np.testing.assert_array_equal(runs("torch")["fact/ddp-grad"], np.full((1, 3), 1.5))


@pytest.mark.keras
def test_fact_keras_loss_divides_by_replicas(runs):
    """Inside a MirroredStrategy replica a ``keras.losses.Loss`` returns the batch mean
    divided by the replica count (what the adapter's ``REPLICA_SCALED`` accounts for);
    the optimizer then sums the replicas' gradients."""
    assert float(runs("keras")["fact/keras-loss-in-replica"]) == 1 / parallel.DEVICES


@pytest.mark.torch
def test_engine_fit_on_spawned_ranks_equals_one_device(runs):
    """``engine.fit(..., devices=2)`` outside a process group starts two gloo ranks: two
    epochs (a last batch of 24 in shards of 12) equal one device's."""
    z = runs("torch")
    one, two = _result(z, "fit", 1), _result(z, "fit", parallel.DEVICES)
    assert len(one["losses"]) == 20
    assert_close(two, one, EXACT, "torch fit on 2 spawned ranks")


def _launch(cmd, env, n=1, timeout=600):
    procs = [subprocess.Popen(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                        **env(i)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(n)]
    for p in procs:
        _, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err[-4000:]


@pytest.mark.torch
def test_torchrun_engine_fit_equals_one_device(runs, tmp_path):
    """The README's ``torchrun --nproc-per-node 2`` launch: the engine's fit inside the
    process group torchrun made."""
    from mlsandbox.engine.launch import free_port

    out = tmp_path / "torchrun.npz"
    _launch([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
             str(parallel.DEVICES), "--master-addr", "127.0.0.1", "--master-port",
             str(free_port()), "-m", "mlsandbox.testing.parallel", "torchrun", str(out)],
            lambda i: {})
    two = {k[len("fit/2/"):]: v for k, v in np.load(out).items()}
    assert_close(two, _result(runs("torch"), "fit", 1), EXACT, "torchrun fit")


@pytest.mark.jax
def test_jax_distributed_processes_equal_one_device(runs, tmp_path):
    """Two processes joined by ``jax.distributed`` (one CPU device each, collectives
    over gloo on 127.0.0.1): the mesh spans both, and the run is one device's."""
    from mlsandbox.engine.launch import free_port

    out = tmp_path / "jax.npz"
    coordinator = f"127.0.0.1:{free_port()}"
    _launch([sys.executable, "-m", "mlsandbox.testing.parallel", "jax-processes", str(out)],
            lambda i: {"MLSANDBOX_COORDINATOR": coordinator, "MLSANDBOX_PROCESS_ID": str(i),
                       "MLSANDBOX_CPU_DEVICES": "1"}, n=parallel.DEVICES)
    z = dict(np.load(out))
    for case in parallel.PROCESS_CASES:
        assert_close(_result(z, case, parallel.DEVICES), _result(runs("jax"), case, 1), EXACT,
                     f"jax.distributed {case}")


@pytest.mark.keras
def test_keras_multi_worker_equals_one_device(runs, tmp_path):
    """Two TensorFlow workers on 127.0.0.1 (``TF_CONFIG``), Keras under
    ``MultiWorkerMirroredStrategy``: the run is one device's."""
    import json

    from mlsandbox.engine.launch import free_port

    out = tmp_path / "tf.npz"
    cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(parallel.DEVICES)]}
    _launch([sys.executable, "-m", "mlsandbox.testing.parallel", "tf-workers", str(out)],
            lambda i: {"TF_CONFIG": json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": i}})},
            n=parallel.DEVICES)
    z = dict(np.load(out))
    for case in parallel.PROCESS_CASES:
        assert_close(_result(z, case, parallel.DEVICES), _result(runs("keras"), case, 1),
                     EXACT, f"MultiWorkerMirroredStrategy {case}")


# -- refusals: before anything is built --------------------------------------------------

@pytest.mark.parametrize("devices", [0, -1, 1.5, True, "2", None])
@pytest.mark.parametrize("backend", [_param(b) for b in models.BACKENDS])
def test_bad_devices_refused(backend, devices):
    spec = models.spec("mlp", n_in=8)
    net = models.get("mlp", backend, n_in=8)
    with pytest.raises(ContractError, match="devices must be an integer >= 1"):
        net.trainer(spec.init(0, "float64"), "sgd", lr=0.1, devices=devices)


@pytest.mark.numpy
def test_reference_refuses_devices():
    net = models.get("mlp", "numpy", n_in=8)
    with pytest.raises(ContractError, match="numpy backend trains on one device"):
        net.trainer(net.spec.init(0, "float64"), "sgd", lr=0.1, devices=2)


@pytest.mark.torch
def test_torch_needs_a_process_group():
    net = models.get("mlp", "torch", n_in=8)
    with pytest.raises(ContractError, match="torchrun --nproc-per-node 2"):
        net.trainer(net.spec.init(0, "float64"), "sgd", lr=0.1, devices=2)


@pytest.mark.jax
def test_jax_needs_the_devices():
    import jax

    n = jax.device_count() + 1
    net = models.get("mlp", "jax", n_in=8)
    with pytest.raises(ContractError, match=f"MLSANDBOX_CPU_DEVICES={n}"):
        net.trainer(net.spec.init(0, "float64"), "sgd", lr=0.1, devices=n)


@pytest.mark.jax
def test_jax_kernel_sets_refuse_devices():
    net = models.get("mlp", "jax", n_in=8, impl="fused")
    with pytest.raises(ContractError, match="impl='xla'"):
        net.trainer(net.spec.init(0, "float32"), "sgd", lr=0.1, devices=2)
