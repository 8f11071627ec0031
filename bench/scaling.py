"""Data-parallel scaling: training throughput (examples/s) against the device count, per
framework, one fresh process per point.

    python -m bench.scaling [--devices 1,2] [--steps 30] [--out docs/img/scaling.png]

Each point trains the dense net (784-256-10, float32, SGD) on a global batch of 2,048
through the framework's data-parallel engine: JAX on N (simulated) devices, torch on N
gloo ranks, Keras under a MirroredStrategy of N devices.  Five warm-up steps, then the
median time of ``--steps`` steps.  It prints a markdown table and writes the plot.

What a machine can show: simulated CPU devices share the machine's cores, so on one CPU
the JAX and Keras points measure the engine's overhead (the shards are computed by one
thread pool), not a speed-up; torch's ranks are processes with ``cores / N`` threads
each, so its points show what splitting the cores costs or gains.  Real scaling needs
real devices (GPUs, or several hosts).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

BACKENDS = ("jax", "torch", "keras")
BATCH, CONFIG = 2048, {"n_in": 784, "n_hidden": 256, "dropout_rate": 0.0}


def _time_steps(backend: str, devices: int, steps: int) -> list[float]:
    import models

    spec = models.spec("densenet", **CONFIG)
    rng = np.random.default_rng(0)
    batch = {"x": rng.random((BATCH, 784), dtype=np.float32),
             "y": rng.integers(0, 10, BATCH)}
    t = models.get("densenet", backend, **CONFIG).trainer(
        spec.init(0, "float32"), "sgd", lr=0.01, devices=devices)
    b = t.put(batch)
    for _ in range(5):
        float(t.step(b)["loss"])
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        float(t.step(b)["loss"])   # reading the loss waits for the step
        times.append(time.perf_counter() - t0)
    return times


def _rank(rank: int, backend: str, devices: int, steps: int) -> list[float]:
    return _time_steps(backend, devices, steps)


def point(backend: str, devices: int, steps: int) -> dict:
    """One measurement, in this process (started fresh by :func:`measure`)."""
    import models

    if devices > 1 and models.data_parallel(backend).processes:
        from mlsandbox.engine import launch

        times = launch.ranks(devices, _rank, backend, devices, steps)
    else:
        times = _time_steps(backend, devices, steps)
    median = statistics.median(times)
    return {"backend": backend, "devices": devices, "median_s": median,
            "examples_per_s": BATCH / median, "spread_s": [min(times), max(times)]}


def measure(devices=(1, 2), steps: int = 30) -> list[dict]:
    out = []
    for backend in BACKENDS:
        for n in devices:
            env = {**os.environ, "MLSANDBOX_CPU_DEVICES": str(n), "TF_CPP_MIN_LOG_LEVEL": "2"}
            proc = subprocess.run([sys.executable, "-m", "bench.scaling", "--point",
                                   f"{backend}:{n}", "--steps", str(steps)], env=env,
                                  capture_output=True, text=True, check=False)
            if proc.returncode:
                raise RuntimeError(f"{backend} at {n} devices failed:\n{proc.stderr[-3000:]}")
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"{backend} x{n}: {out[-1]['examples_per_s']:.0f} examples/s",
                  file=sys.stderr, flush=True)
    return out


def table(points: list[dict]) -> str:
    devices = sorted({p["devices"] for p in points})
    lines = ["| framework | " + " | ".join(f"{n} device(s), examples/s" for n in devices)
             + " | ratio |", "|---" * (len(devices) + 2) + "|"]
    for b in BACKENDS:
        row = {p["devices"]: p["examples_per_s"] for p in points if p["backend"] == b}
        ratio = row[devices[-1]] / row[devices[0]]
        lines.append(f"| {b} | " + " | ".join(f"{row[n]:,.0f}" for n in devices)
                     + f" | {ratio:.2f}x |")
    return "\n".join(lines)


def plot(points: list[dict], path: str, machine_line: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for b in BACKENDS:
        ps = sorted((p for p in points if p["backend"] == b), key=lambda p: p["devices"])
        ax.plot([p["devices"] for p in ps], [p["examples_per_s"] for p in ps], "o-", label=b)
    ax.set_xlabel("devices (simulated CPU devices; torch: gloo ranks)")
    ax.set_ylabel("examples / s")
    ax.set_xticks(sorted({p["devices"] for p in points}))
    ax.set_title(f"dense net 784-256-10, batch {BATCH}\n{machine_line}", fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="1,2")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", default="docs/img/scaling.png")
    parser.add_argument("--point", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        backend, n = args.point.split(":")
        print(json.dumps(point(backend, int(n), args.steps)))
        return 0
    from mlsandbox import machine

    points = measure(tuple(int(d) for d in args.devices.split(",")), args.steps)
    print(table(points))
    print(f"\n{machine.summary()}; {time.strftime('%Y-%m-%d')}")
    plot(points, args.out, machine.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
