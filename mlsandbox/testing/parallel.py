"""Data-parallel parity runs: the same 20 steps on one device and on two, per framework.

``parity/test_data_parallel.py`` runs this module once per framework in a fresh process
(``python -m mlsandbox.testing.parallel BACKEND OUT.npz``), since the device count is
fixed when a framework starts: JAX and TensorFlow see two simulated CPU devices
(``MLSANDBOX_CPU_DEVICES=2``), torch runs two gloo ranks on 127.0.0.1
(:func:`mlsandbox.engine.launch.ranks`).  Every case trains from the same init on the
same global batches (real digits for the dense and conv nets), float64, with dropout
masks injected where the net has dropout, so one device and two differ only in the
order of their reductions.  The NPZ holds ``<case>/<devices>/losses`` and
``<case>/<devices>/<param>``, plus the measurements of the framework facts the tests pin
(``fact/...``).
"""

from __future__ import annotations

import sys

import numpy as np

import models
from mlsandbox.testing.trajectories import digits_batches

STEPS, DEVICES = 20, 2

#: case -> (network, config, optimizer, hyper, masks injected)
CASES = {
    "mlp": ("mlp", {"n_in": 64, "n_hidden": 16}, "adam", {"lr": 1e-2}, True),
    # L2 scaled by the batch size (Keras's regularizer, the others' penalty) and dropout
    "densenet-l2-dropout": ("densenet", {"n_in": 64, "n_hidden": 32, "dropout_rate": 0.2,
                                         "l2": 1e-3}, "sgd", {"lr": 0.1, "momentum": 0.9},
                            True),
    # batch statistics: global in JAX (one program) and Keras (synchronized=True); per
    # replica in torch on CPU.  SGD: Adam would magnify the rounding noise of the zero
    # gradient of the bias before batch norm.
    "densenet-batchnorm": ("densenet", {"n_in": 64, "n_hidden": 32, "batchnorm": True,
                                        "dropout_rate": 0.0}, "sgd", {"lr": 0.1}, True),
    "cnn": ("cnn", {"image_size": 16, "filters1": 4, "filters2": 8}, "adam", {"lr": 1e-3},
            True),
    # the masked-LM loss: each shard keeps a different number of labels
    "bert_mlm": ("bert_mlm", None, "sgd", {"lr": 0.1}, True),
    # no injected masks: each framework's own dropout draws
    "cnn-own-dropout": ("cnn", {"image_size": 16, "filters1": 4, "filters2": 8}, "adam",
                        {"lr": 1e-3}, False),
}

#: the cases where torch's replicas normalize with their own shard's statistics
PER_REPLICA_BATCH_NORM = ("densenet-batchnorm",)


def case_spec(case: str):
    name, config, *_ = CASES[case]
    if config is None:
        config = models.spec(name).parity["config"]
    return name, config, models.spec(name, **config)


def case_batches(case: str) -> list[dict]:
    """The case's ``STEPS`` global batches (32 digits, or 8 sentences of 6 tokens)."""
    _, _, spec = case_spec(case)
    inject = CASES[case][4]
    out = []
    if spec.name.startswith("bert"):
        for t in range(STEPS):
            b = spec.example(n=8, seed=100 + t, dtype="float64")
            if inject:
                b["masks"] = spec.masks(8, seed=[1000, t],
                                        length=b["input_ids"].shape[1])
            out.append(b)
        return out
    for t, (x, y) in enumerate(digits_batches()[:STEPS]):
        if len(spec.input_shape()) == 3:   # NHWC: the 8x8 digits as 16x16x1
            x = np.kron(x.reshape(-1, 8, 8), np.ones((2, 2)))[..., None]
        b = {"x": x, "y": y}
        if inject and spec.dropout():
            b["masks"] = spec.masks(len(y), seed=[1000, t])
        out.append(b)
    return out


def train(backend: str, case: str, devices: int) -> dict[str, np.ndarray]:
    """``{"losses": ..., <param>: ...}`` after the case's steps on ``devices``."""
    name, config, spec = case_spec(case)
    _, _, optimizer, hyper, _ = CASES[case]
    params = spec.init(seed=3, dtype="float64")
    t = models.get(name, backend, **config).trainer(params, optimizer, devices=devices,
                                                    seed=5, **hyper)
    losses = [float(t.step(b)["loss"]) for b in case_batches(case)]
    final, _ = t.state()
    return {"losses": np.array(losses), **final}


def shard_mean_gradient(backend: str, case: str) -> dict[str, np.ndarray]:
    """The mean over the ``DEVICES`` shards of the first batch of each shard's own
    single-device gradient (train mode): what per-replica batch norm averages."""
    name, config, spec = case_spec(case)
    params = spec.init(seed=3, dtype="float64")
    net = models.get(name, backend, **config)
    b = case_batches(case)[0]
    n = len(b["y"])
    grads = []
    for r in range(DEVICES):
        lo, hi = r * n // DEVICES, (r + 1) * n // DEVICES
        shard = {k: v[lo:hi] for k, v in b.items() if k != "masks"}
        if "masks" in b:
            shard["masks"] = {k: m[lo:hi] for k, m in b["masks"].items()}
        grads.append(net.loss_and_grads(params, shard, train=True)[1])
    return {k: np.mean([g[k] for g in grads], axis=0) for k in grads[0]}


def first_step_gradient(backend: str, case: str, devices: int) -> dict[str, np.ndarray]:
    """The gradient of one plain SGD step with lr 1 on the first batch (params - new)."""
    name, config, spec = case_spec(case)
    params = spec.init(seed=3, dtype="float64")
    t = models.get(name, backend, **config).trainer(params, "sgd", lr=1.0, devices=devices)
    t.step(case_batches(case)[0])
    new, _ = t.state()
    return {k: params[k] - new[k] for k in spec.trainable()}


def _flat(prefix: str, d: dict) -> dict:
    return {f"{prefix}/{k}": v for k, v in d.items()}


def _torch_rank_facts(rank: int) -> dict:
    """The torch facts a rank measures in the process group."""
    import torch

    out = {}
    for case in PER_REPLICA_BATCH_NORM:
        out.update(_flat(f"fact/first-step/{case}/{DEVICES}",
                         first_step_gradient("torch", case, DEVICES)))
    # DDP averages: rank r's loss is (r + 1)·Σw, its gradient after backward the mean
    scale = torch.nn.Linear(3, 1, bias=False, dtype=torch.float64)
    torch.nn.init.zeros_(scale.weight)
    ddp = torch.nn.parallel.DistributedDataParallel(scale)
    ddp(torch.full((1, 3), float(rank + 1), dtype=torch.float64)).sum().backward()
    out["fact/ddp-grad"] = scale.weight.grad.numpy().copy()
    # each rank's own dropout stream: (seed, step, rank)
    models.get("cnn", "torch").seed_dropout(None, 5, 0, rank)
    draw = torch.rand(4, dtype=torch.float64)
    gathered = [torch.zeros_like(draw) for _ in range(DEVICES)]
    torch.distributed.all_gather(gathered, draw)
    out["fact/rank-draws"] = torch.stack(gathered).numpy()
    return out


def _keras_facts() -> dict:
    """Keras's loss objects divide by the replica count inside a replica."""
    import tensorflow as tf

    from models.frameworks import load_keras

    keras, _ = load_keras()
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in tf.config.list_logical_devices("CPU")[:DEVICES]],
        cross_device_ops=tf.distribute.ReductionToOneDevice())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")
    z = tf.constant([[1.0, 2.0, 0.5]], tf.float64)
    y = tf.constant([1])
    inside = strategy.run(lambda: loss(y, z)).values[0]
    return {"fact/keras-loss-in-replica": np.array(float(inside) / float(loss(y, z)))}


def _torch_facts() -> dict:
    """Per-replica batch norm in torch on CPU: the shards' mean gradient, one device's."""
    out = {}
    for case in PER_REPLICA_BATCH_NORM:
        out.update(_flat(f"fact/shard-mean/{case}", shard_mean_gradient("torch", case)))
        out.update(_flat(f"fact/first-step/{case}/1", first_step_gradient("torch", case, 1)))
    return out


#: backend -> the measurements of its framework facts made in the parent process
FACTS = {"torch": _torch_facts, "keras": _keras_facts}
#: backend -> those made in each rank of a process group (rank 0's are kept)
RANK_FACTS = {"torch": _torch_rank_facts}


def _rank_cases(rank: int, backend: str) -> dict:
    """Everything a rank computes at ``DEVICES`` ranks (rank 0's is returned)."""
    out = {}
    for case in CASES:
        out.update(_flat(f"{case}/{DEVICES}", train(backend, case, DEVICES)))
    facts = RANK_FACTS.get(backend)
    return {**out, **(facts(rank) if facts else {})}


def run(backend: str) -> dict[str, np.ndarray]:
    out = {}
    for case in CASES:
        out.update(_flat(f"{case}/1", train(backend, case, 1)))
    if models.data_parallel(backend).processes:
        from mlsandbox.engine import launch

        out.update(launch.ranks(DEVICES, _rank_cases, backend))
        out.update({f"fit/1/{k}": v for k, v in fit_digits(backend, 1).items()})
        out.update({f"fit/{DEVICES}/{k}": v
                    for k, v in fit_digits(backend, DEVICES).items()})  # spawned ranks
    else:
        for case in CASES:
            out.update(_flat(f"{case}/{DEVICES}", train(backend, case, DEVICES)))
    out.update(FACTS.get(backend, dict)())
    return out


#: the multi-process runs of :func:`run_processes`
MODES = ("jax-processes", "torchrun", "tf-workers")

#: the cases the multi-process runs repeat (one process per device)
PROCESS_CASES = ("densenet-batchnorm", "bert_mlm")


def run_processes(mode: str) -> dict[str, np.ndarray] | None:
    """This process's part of a multi-process run at ``DEVICES`` processes, rank 0's
    results (None elsewhere): ``"jax-processes"`` joins ``jax.distributed`` (the
    coordinator in ``MLSANDBOX_COORDINATOR``, this process's id in
    ``MLSANDBOX_PROCESS_ID``); ``"torchrun"`` runs the engine's ``fit`` inside the process
    group ``torchrun`` made; ``"tf-workers"`` trains Keras under a
    ``MultiWorkerMirroredStrategy`` (the cluster in ``TF_CONFIG``)."""
    import os

    if mode == "jax-processes":
        from models.frameworks import join_jax_processes

        jax = join_jax_processes(os.environ["MLSANDBOX_COORDINATOR"], DEVICES,
                                 int(os.environ["MLSANDBOX_PROCESS_ID"]))
        out = {}
        for case in PROCESS_CASES:
            out.update(_flat(f"{case}/{DEVICES}", train("jax", case, DEVICES)))
        return out if jax.process_index() == 0 else None
    if mode == "tf-workers":   # TF_CONFIG names the cluster and this worker
        import json

        out = {}
        for case in PROCESS_CASES:
            out.update(_flat(f"{case}/{DEVICES}", train("keras", case, DEVICES)))
        return out if json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 0 else None
    if mode == "torchrun":
        import torch.distributed as dist

        dist.init_process_group("gloo")
        try:
            out = {f"fit/{DEVICES}/{k}": v for k, v in fit_digits("torch", DEVICES).items()}
            return out if dist.get_rank() == 0 else None
        finally:
            dist.destroy_process_group()
    raise ValueError(f"unknown multi-process mode {mode!r}")


def fit_digits(backend: str, devices: int) -> dict[str, np.ndarray]:
    """Two epochs of the engine's ``fit`` on 600 digits (batch 64, a last batch of 24),
    the dense net with L2: the step losses and final params."""
    from mlsandbox import engine
    from mlsandbox.data import load_digits

    ds = load_digits()
    x, y = ds.features("train", "float64")[:600], ds.y_train[:600].astype(np.int64)
    run = engine.fit("densenet", backend, (x, y), epochs=2, batch_size=64, dtype="float64",
                     optimizer="sgd", lr=0.1, momentum=0.9, devices=devices, progress=False,
                     config={"n_in": 64, "dropout_rate": 0.0, "l2": 1e-3})
    return {"losses": np.array(run.step_losses), **run.params}


def main(argv=None) -> int:
    """``BACKEND OUT.npz``: :func:`run`; ``MODE OUT.npz`` for a mode of
    :func:`run_processes` (rank 0 writes)."""
    what, path = (argv if argv is not None else sys.argv[1:])
    from mlsandbox.testing.trajectories import one_thread

    with one_thread():
        results = run_processes(what) if what in MODES else run(what)
    if results is not None:
        np.savez(path, **results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
