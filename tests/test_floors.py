"""The floors of the codebase, read from the source tree's own imports and names.

* ``kernels/`` (the ground floor) imports nothing from ``models/`` or ``mlsandbox/``;
* outside ``models/`` nothing imports a network's framework file or an adapter's
  ``_``-prefixed name, and nothing reaches a ``_``-prefixed attribute of an object it did
  not define (``net._tree``);
* the training step exists once per framework, in its adapter: outside
  ``models/adapters`` (and the NumPy optimizer rules in ``kernels/optim.py``) no product
  code calls an optimizer's update (``loss.backward()``, ``apply_gradients``,
  ``tx.update``, ``optim.update``);
* the three suites (``tests/``, ``parity/``, ``bench/``) never import one another: what
  they share is in ``mlsandbox/testing/``, where ``DTYPES`` and ``PEERS`` are defined
  once.
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


SUITES = ("tests", "parity", "bench")
#: the import calls that take a module name as a string
IMPORT_CALLS = ("import_module", "importorskip", "__import__")


def imported_modules(path: Path):
    """Every module ``path`` imports: its import statements and its calls of
    ``importlib.import_module`` / ``pytest.importorskip`` / ``__import__`` on a literal."""
    yield from (m for m, _ in imports(path))
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in IMPORT_CALLS:
                yield node.args[0].value


@pytest.mark.parametrize("path", list(sources(*SUITES)), ids=rel)
def test_suites_import_no_other_suite(path):
    own = path.relative_to(REPO).parts[0]
    others = [s for s in SUITES if s != own]
    bad = sorted({m for m in imported_modules(path) if m.split(".")[0] in others})
    assert not bad, (f"{rel(path)} imports {bad}: {own}/ imports nothing of {others}; "
                     f"what the suites share goes in mlsandbox/testing/")


SHARED_NAMES = ("DTYPES", "PEERS")


def assigned_names(path: Path):
    """``(name, line)`` for every name bound by an assignment in ``path``, at any depth."""
    def names(target):
        if isinstance(target, ast.Name):
            yield target.id
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                yield from names(t)
        elif isinstance(target, ast.Starred):
            yield from names(target.value)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            targets = [node.target]
        else:
            continue
        for t in targets:
            for name in names(t):
                yield name, node.lineno


def test_dtypes_and_peers_are_defined_once_in_mlsandbox_testing():
    where = {name: [] for name in SHARED_NAMES}
    for path in sources(*PACKAGES):
        for name, line in assigned_names(path):
            if name in where:
                where[name].append(f"{rel(path)}:{line}")
    for name, places in where.items():
        assert len(places) == 1 and places[0].startswith("mlsandbox/testing/"), (
            f"{name} is assigned at {places}: define it once, in mlsandbox/testing/cases.py, "
            "and import it (a narrower list gets its own name and a comment saying why)")
