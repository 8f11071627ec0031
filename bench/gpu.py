"""The GPU suite, when a card is at hand: parity on the GPU, then the benchmarks in both
float32 matmul modes, and the GPU table written into docs/performance.md.

    python -m bench.gpu                     # parity, benchmarks (3 repeats), the table
    python -m bench.gpu --repeat 1 -k mlp   # a quick look
    python -m bench.gpu --no-parity --out reports/bench-gpu

Every framework must compute on a GPU (``MLSANDBOX_DEVICE=gpu`` for all the children:
a framework that sees none stops the run before anything is written, naming it).  Then:

1. ``pytest parity`` with ``MLSANDBOX_MATMUL=exact`` (TF32 off: the parity policy);
2. ``mlsandbox bench`` twice, one process per framework, interleaved: ``exact`` and
   ``tf32`` (TF32 on for float32 matmuls and convolutions: the speed mode), into
   ``OUT/exact`` and ``OUT/tf32``;
3. the grouped tables of both runs between the ``GPU table`` markers of
   docs/performance.md, with the machine, the GPU and the date each run recorded.

On the GPU the oneDNN kernel sets fall back to ``impl="xla"`` with a warning (their
custom calls are CPU code), so the JAX columns there are XLA's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- GPU table: written by python -m bench.gpu -->", "<!-- /GPU table -->"
BACKENDS = ("jax", "torch", "keras")
MODES = ("exact", "tf32")


def missing_gpus(backends=BACKENDS) -> dict[str, str]:
    """backend -> why it computes on no GPU, each checked in a fresh process (the device
    is fixed when a framework starts)."""
    out = {}
    env = {**os.environ, "MLSANDBOX_DEVICE": "gpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    for b in backends:
        proc = subprocess.run(
            [sys.executable, "-c", f"from models.frameworks import device; device({b!r})"],
            env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if proc.returncode:
            lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
            out[b] = lines[-1]
    return out


def table(out: Path) -> str:
    """The markdown of both modes' runs under ``out``."""
    from mlsandbox import benchreport

    parts = []
    for mode in MODES:
        doc = benchreport.load(out / mode / "bench.json")
        found = benchreport.cells(doc)
        parts += [f"**float32 matmul mode `{mode}`** ({benchreport.context_line(doc)})", "",
                  benchreport.grouped_markdown(found), ""]
    return "\n".join(parts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="interleaved repeats (default 3)")
    p.add_argument("-k", default=None, help="pytest -k selection of the benchmarks")
    p.add_argument("--out", default="reports/bench-gpu", help="where the runs go")
    p.add_argument("--no-parity", action="store_true", help="skip the parity run")
    p.add_argument("--no-doc", action="store_true", help="leave docs/performance.md alone")
    a = p.parse_args(argv)
    if a.repeat < 1:
        p.error(f"--repeat {a.repeat}: expected an integer >= 1")
    missing = missing_gpus()
    if missing:
        print("bench.gpu: no GPU for " + "; ".join(f"{b}: {why}" for b, why in
                                                   missing.items())
              + ". Nothing was run or written.", file=sys.stderr)
        return 2
    os.environ["MLSANDBOX_DEVICE"] = "gpu"
    if not a.no_parity:
        env = {**os.environ, "MLSANDBOX_MATMUL": "exact"}
        code = subprocess.run([sys.executable, "-m", "pytest", "-q", "parity"], env=env,
                              cwd=ROOT, check=False).returncode
        if code:
            print(f"bench.gpu: parity on the GPU failed (pytest exit {code}); no table "
                  f"written", file=sys.stderr)
            return 1
    from mlsandbox.benchrun import bench

    out = Path(a.out)
    for mode in MODES:
        os.environ["MLSANDBOX_MATMUL"] = mode   # the children inherit it
        bench(repeat=a.repeat, out=out / mode, k=a.k)
    body = table(out)
    print(body)
    if not a.no_doc:
        from mlsandbox.report import replace_marked

        replace_marked(DOC, BEGIN, END, body)
        print(f"bench.gpu: the GPU table is in {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
