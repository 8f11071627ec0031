"""Our top-level packages share names with PyPI packages (Hugging Face ships ``kernels``,
and transformers looks for it): importing everything side by side must still work."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_our_packages_are_the_ones_imported():
    import kernels
    import models

    for module in (kernels, models):
        assert Path(module.__file__).resolve().is_relative_to(REPO), module.__file__
    assert hasattr(kernels, "dense_forward")
    # the suites' own packages (``bench`` is a PyPI name too): found here, not imported
    # (tests/ imports nothing of the other suites, tests/test_floors.py)
    for name in ("bench", "parity", "tests"):
        origin = importlib.util.find_spec(name).origin
        assert Path(origin).resolve().is_relative_to(REPO / name), origin


def test_transformers_and_every_framework_import_beside_ours():
    """In a fresh interpreter: our kernels first, then transformers (which probes for a
    package named ``kernels``), torch, jax, flax, keras; then a BERT model is built."""
    code = (
        "import kernels, models\n"
        "import transformers, torch, jax, flax, optax, keras\n"
        "from transformers import BertConfig, BertModel\n"
        "from transformers.utils import import_utils as iu\n"
        "assert kernels.__file__.startswith(%r), kernels.__file__\n"
        "cfg = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1,"
        " num_attention_heads=2, intermediate_size=16)\n"
        "m = BertModel(cfg)\n"
        "out = m(torch.tensor([[1, 2, 3]])).last_hidden_state\n"
        "assert tuple(out.shape) == (1, 3, 8)\n"
        "print('hub kernels available:', getattr(iu, 'is_kernels_available', lambda: None)())\n"
    ) % str(REPO)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "hub kernels available: False" in res.stdout
