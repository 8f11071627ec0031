"""``python -m bench.profile_layers``: the per-layer profile of a conv net's Adam step
(our oneDNN set against torch's), run once at one repeat: every piece timed in both
frameworks, each in a process of its own, and the table printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_profile_times_every_piece_in_both_frameworks(tmp_path):
    from kernels.accel import native

    if native.unavailable("onednn") is not None:
        pytest.skip(f"oneDNN kernels unavailable: {native.unavailable('onednn')}")
    out = tmp_path / "profile.json"
    proc = subprocess.run([sys.executable, "-m", "bench.profile_layers", "--network", "cnn",
                           "--repeat", "1", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())["results"]["cnn"]
    assert set(got) == {"jax", "torch"}
    pieces = ["conv1 1->32 on 28x28", "pool1 26x26", "conv2 32->64 on 13x13",
              "pool2 11x11", "dense 1600->10 + loss", "Adam update (all params)"]
    for backend in ("jax", "torch"):
        assert list(got[backend]["pieces"]) == pieces
        for name in pieces[:-1]:
            assert got[backend]["pieces"][name]["forward"] > 0
            assert got[backend]["pieces"][name]["backward"] >= 0
        assert got[backend]["step"] > 0 and "other_busy_cores" in got[backend]["load"]
    assert "| **whole Adam step** |" in proc.stdout and "| conv2 32->64 on 13x13 |" in \
        proc.stdout
