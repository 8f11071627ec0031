"""The README's Python snippets run as written (in a scratch directory), and every file
or folder it links to exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)


def test_the_readme_has_python_snippets():
    assert SNIPPETS


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md snippet", "exec"), {"__name__": "readme"})


def test_readme_links_exist():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", TEXT)
    missing = [p for p in links if not p.startswith("http") and not (README.parent / p).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_readme_layout_block_matches_the_tree():
    block = re.search(r"## Layout\n\n```\n(.*?)```", TEXT, flags=re.S).group(1)
    named = {m for m in re.findall(r"^(\w+)/", block, flags=re.M)}
    tops = {p.name for p in README.parent.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / "__init__.py").exists()
            or p.name == "docs"}
    assert named == tops
