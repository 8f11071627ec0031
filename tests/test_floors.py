"""The floors of the codebase, read from the source tree's own imports and names.

* ``kernels/`` (the ground floor) imports nothing from ``models/`` or ``mlsandbox/``;
* outside ``models/`` nothing imports a network's framework file or an adapter's
  ``_``-prefixed name, and nothing reaches a ``_``-prefixed attribute of an object it did
  not define (``net._tree``);
* the training step exists once per framework, in its adapter: outside
  ``models/adapters`` (and the NumPy optimizer rules in ``kernels/optim.py``) no product
  code calls an optimizer's update (``loss.backward()``, ``apply_gradients``,
  ``tx.update``, ``optim.update``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("kernels", "models", "mlsandbox", "bench", "parity", "tests")


def sources(*tops):
    for top in tops:
        yield from sorted((REPO / top).rglob("*.py"))


def imports(path: Path):
    """``(module, names)`` for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, ()
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, tuple(a.name for a in node.names)


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", list(sources("kernels")), ids=rel)
def test_kernels_import_nothing_above(path):
    bad = [m for m, _ in imports(path) if m.split(".")[0] in ("models", "mlsandbox")]
    assert not bad, f"{rel(path)} imports {bad}: kernels/ is the ground floor"


OUTSIDE = [p for p in sources("mlsandbox", "bench", "parity", "tests") if p.name != "test_floors.py"]


@pytest.mark.parametrize("path", OUTSIDE, ids=rel)
def test_outside_models_uses_public_names_only(path):
    bad = []
    for module, names in imports(path):
        parts = module.split(".")
        if parts[0] != "models":
            continue
        if len(parts) >= 3 and parts[1] not in ("adapters",) and "_" in parts[2] \
                and parts[2].rsplit("_", 1)[-1] in ("numpy", "jax", "torch", "keras"):
            bad.append(f"{module} (a network's framework file)")
        bad += [f"{module}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
        if any(p.startswith("_") and p != "__init__" for p in parts[1:]):
            bad.append(f"{module} (a private module)")
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__") and isinstance(node.value, ast.Name) \
                and node.value.id in ("net", "network", "ref", "trainer", "t"):
            bad.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    assert not bad, f"{rel(path)} reaches into models/: {bad}"


STEP_CALLS = ("apply_gradients", "zero_grad")


@pytest.mark.parametrize("path", [p for p in sources("kernels", "mlsandbox", "bench", "models")
                                  if "adapters" not in p.parts and p.name != "optim.py"],
                         ids=rel)
def test_no_training_step_outside_the_adapters(path):
    tree = ast.parse(path.read_text(), str(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            owner = f.value.id if isinstance(f.value, ast.Name) else ""
            if f.attr in STEP_CALLS or (f.attr == "update" and owner in ("tx", "optim")) \
                    or (f.attr == "backward" and owner == "loss") \
                    or (f.attr == "step" and owner in ("opt", "optimizer")):
                bad.append(f"{owner}.{f.attr} (line {node.lineno})")
    assert not bad, f"{rel(path)} takes a training step of its own: {bad}"
