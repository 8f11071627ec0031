"""Where a conv net's Adam step goes, layer by layer: our oneDNN kernel set (JAX) against
torch's own oneDNN calls, in float32, each framework in a process of its own.

    python -m bench.profile_layers                    # TinyVGG and the MNIST CNN
    python -m bench.profile_layers --network tinyvgg --repeat 30 --json out.json

Each layer is timed alone, at the shapes it has in the network's benchmark batch
(TinyVGG 32 x 64x64x3, the CNN 128 x 28x28x1): the forward (a convolution with bias
and ReLU, a 2x2 max pool, the dense layer with the loss) and its backward (the VJP of
the layer's output for a fixed cotangent: backward data and weights together), and the
optimizer's update of every parameter.  JAX: one jitted function per piece, the
network's own kernels (:mod:`kernels.accel.conv`, :mod:`kernels.accel.pool`, optax's
Adam); torch: the functional ops its modules call and ``torch.optim.Adam``.  Then the
whole train step of each (``models``' trainers, as the benchmarks time it), so the sum
of the pieces can be set against it: what is left is the framework's overhead between
them (XLA's custom-call boundaries and copies, torch's autograd bookkeeping).
Medians of ``--repeat`` calls after two untimed ones; the load is recorded.
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

#: network -> (batch, [(piece, kind, shape args)])
LAYERS = {
    "tinyvgg": (32, [("conv1 3->10 on 64x64", "conv", (64, 3, 10)),
                     ("conv2 10->10 on 62x62", "conv", (62, 10, 10)),
                     ("pool1 60x60", "pool", (60, 10)),
                     ("conv3 10->10 on 30x30", "conv", (30, 10, 10)),
                     ("conv4 10->10 on 28x28", "conv", (28, 10, 10)),
                     ("pool2 26x26", "pool", (26, 10)),
                     ("dense 1690->3 + loss", "dense", (1690, 3))]),
    "cnn": (128, [("conv1 1->32 on 28x28", "conv", (28, 1, 32)),
                  ("pool1 26x26", "pool", (26, 32)),
                  ("conv2 32->64 on 13x13", "conv", (13, 32, 64)),
                  ("pool2 11x11", "pool", (11, 64)),
                  ("dense 1600->10 + loss", "dense", (1600, 10))]),
}


def _median_ms(fn, repeat: int) -> float:
    fn(), fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def _arrays(kind, shape, n, rng):
    if kind == "conv":
        hw, c, o = shape
        return (rng.standard_normal((n, hw, hw, c), dtype=np.float32),
                0.1 * rng.standard_normal((3, 3, c, o), dtype=np.float32),
                0.1 * rng.standard_normal(o, dtype=np.float32))
    if kind == "pool":
        hw, c = shape
        return (rng.standard_normal((n, hw, hw, c), dtype=np.float32),)
    k, o = shape
    return (rng.standard_normal((n, k), dtype=np.float32),
            0.1 * rng.standard_normal((k, o), dtype=np.float32),
            np.zeros(o, np.float32), rng.integers(0, o, n))


def _jax_pieces(network, repeat):
    import jax
    import jax.numpy as jnp
    import optax

    from kernels.accel.conv import conv2d_bias_relu
    from kernels.accel.pool import max_pool_2x2_onednn
    from models.frameworks import load_jax

    load_jax()
    rng = np.random.default_rng(0)
    n, layers = LAYERS[network]
    out = {}
    for name, kind, shape in layers:
        args = [jnp.asarray(a) for a in _arrays(kind, shape, n, rng)]
        if kind == "conv":
            f = conv2d_bias_relu
        elif kind == "pool":
            f = max_pool_2x2_onednn
        else:
            def f(x, w, b, y):
                z = x @ w + b
                return optax.softmax_cross_entropy_with_integer_labels(z, y).mean()
        diff = args[:3] if kind == "dense" else args
        rest = args[3:] if kind == "dense" else []
        fwd = jax.jit(f)
        y = fwd(*args)
        dy = jnp.ones_like(y)

        def bwd_of(*a, f=f, rest=rest, dy=dy):
            _, vjp = jax.vjp(lambda *d: f(*d, *rest), *a)
            return vjp(dy)

        bwd = jax.jit(bwd_of)
        out[name] = {"forward": _median_ms(lambda: fwd(*args).block_until_ready(), repeat),
                     "backward": _median_ms(
                         lambda: jax.block_until_ready(bwd(*diff)), repeat)}
    out["Adam update (all params)"] = {"update": _jax_adam(network, repeat)}
    return out


def _jax_adam(network, repeat):
    import jax
    import optax

    import models

    params = models.spec(network).init(seed=0, dtype="float32")
    tree = {k: jax.numpy.asarray(v) for k, v in params.items()}
    opt = optax.adam(1e-3)
    state = opt.init(tree)

    @jax.jit
    def update(p, s, g):
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    grads = jax.tree_util.tree_map(lambda v: 0.01 * v, tree)
    return _median_ms(lambda: jax.block_until_ready(update(tree, state, grads)), repeat)


def _torch_pieces(network, repeat):
    import torch
    import torch.nn.functional as F

    import models
    from models.frameworks import load_torch

    load_torch()
    rng = np.random.default_rng(0)
    n, layers = LAYERS[network]
    out = {}
    for name, kind, shape in layers:
        arrays = _arrays(kind, shape, n, rng)
        if kind == "conv":
            x = torch.from_numpy(arrays[0]).permute(0, 3, 1, 2).contiguous()
            w = torch.from_numpy(arrays[1]).permute(3, 2, 0, 1).contiguous()
            b = torch.from_numpy(arrays[2])
            diff, f = [x, w, b], lambda x, w, b: F.relu(F.conv2d(x, w, b))
        elif kind == "pool":
            x = torch.from_numpy(arrays[0]).permute(0, 3, 1, 2).contiguous()
            diff, f = [x], lambda x: F.max_pool2d(x, 2)
        else:
            x, w = torch.from_numpy(arrays[0]), torch.from_numpy(arrays[1].T.copy())
            b, y = torch.from_numpy(arrays[2]), torch.from_numpy(arrays[3])
            diff, f = [x, w, b], lambda x, w, b: F.cross_entropy(F.linear(x, w, b), y)
        with torch.no_grad():
            fwd_ms = _median_ms(lambda: f(*diff), repeat)
        leaves = [d.clone().requires_grad_(True) for d in diff]

        def bwd(leaves=leaves, f=f):
            z = f(*leaves)
            return torch.autograd.grad(z, leaves, torch.ones_like(z))

        # the backward alone: a forward with the graph, minus the plain forward
        both = _median_ms(bwd, repeat)
        out[name] = {"forward": fwd_ms, "backward": max(both - fwd_ms, 0.0)}
    module = models.get(network, "torch").to_native(
        models.spec(network).init(seed=0, dtype="float32"))
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    for p in module.parameters():
        p.grad = 0.01 * p.detach().clone()
    out["Adam update (all params)"] = {"update": _median_ms(opt.step, repeat)}
    return out


def _whole_step(network, backend, repeat):
    import models

    spec = models.spec(network)
    n = LAYERS[network][0]
    batch = spec.example(n=n, seed=0, dtype="float32")
    batch.pop("masks", None)
    options = {"impl": "onednn"} if backend == "jax" else {}
    t = models.get(network, backend, **options).trainer(
        spec.init(seed=0, dtype="float32"), "adam", lr=1e-3)
    b = t.put(batch)
    return _median_ms(lambda: float(t.step(b)["loss"]), repeat)


def measure(network: str, backend: str, repeat: int) -> dict:
    """This process's figures for one framework (run by :func:`main` in a fresh one)."""
    from mlsandbox import machine

    with machine.measure_load() as load:
        pieces = (_jax_pieces if backend == "jax" else _torch_pieces)(network, repeat)
        step = _whole_step(network, backend, repeat)
    return {"pieces": pieces, "step": step, "load": load}


def table(network: str, got: dict) -> str:
    """The markdown table of one network: pieces, their sum and the whole step."""
    jax_, torch_ = got["jax"], got["torch"]
    rows = ["| piece | JAX oneDNN fwd | torch fwd | JAX oneDNN bwd / update | torch bwd / "
            "update |", "|---|---|---|---|---|"]
    total = {"jax": 0.0, "torch": 0.0}
    for name in jax_["pieces"]:
        j, t = jax_["pieces"][name], torch_["pieces"][name]
        cells = []
        for key in ("forward",):
            cells += [f"{j[key]:.2f}" if key in j else "", f"{t[key]:.2f}" if key in t else ""]
        back = "backward" if "backward" in j else "update"
        cells += [f"{j[back]:.2f}", f"{t[back]:.2f}"]
        total["jax"] += sum(j.values())
        total["torch"] += sum(t.values())
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    rows.append(f"| **sum of the pieces** | {total['jax']:.1f} | {total['torch']:.1f} | | |")
    rows.append(f"| **whole Adam step** | {jax_['step']:.1f} | {torch_['step']:.1f} | | |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_layers",
                                description=__doc__.split("\n")[0])
    p.add_argument("--network", choices=sorted(LAYERS), action="append")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--json", default=None, help="write every figure here")
    p.add_argument("--one", nargs=2, metavar=("NETWORK", "BACKEND"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.repeat < 1:
        p.error(f"--repeat {a.repeat}: expected an integer >= 1")
    if a.one:
        print(json.dumps(measure(a.one[0], a.one[1], a.repeat)))
        return 0
    from mlsandbox import machine

    results = {}
    for network in a.network or sorted(LAYERS, reverse=True):
        results[network] = {}
        for backend in ("jax", "torch"):
            proc = subprocess.run(
                [sys.executable, "-m", "bench.profile_layers", "--one", network, backend,
                 "--repeat", str(a.repeat)], capture_output=True, text=True, check=False,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            if proc.returncode:
                raise SystemExit(f"{network}/{backend} failed:\n{proc.stderr[-3000:]}")
            results[network][backend] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"\n{network} ({LAYERS[network][0]} per batch), ms, {machine.summary()}\n")
        print(table(network, results[network]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine.info(), "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
