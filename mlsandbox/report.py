"""Report directories: markdown, JSON metrics and PNG plots, written all or nothing.

>>> with Report("reports/mlp") as r:            # doctest: +SKIP
...     r.heading("MLP on MNIST")
...     r.table(["framework", "loss"], [["numpy", 0.31]])
...     r.figure("loss.png", fig)
...     r.metrics({"numpy": {"loss": 0.31}})

Everything goes to a temporary sibling directory first; only when the ``with`` block
ends without an error is it renamed to ``out_dir`` (an older report there is replaced).
After a failure nothing is left behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.2e}"
        return f"{v:.4g}"
    return str(v)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; floats shown with 4 significant digits."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


class Report:
    """A report directory under construction (use as a context manager)."""

    def __init__(self, out_dir, title: str | None = None):
        self.out_dir = Path(out_dir)
        self._parts: list[str] = [f"# {title}\n"] if title else []
        self._metrics: dict = {}
        self._tmp: Path | None = None

    def __enter__(self) -> "Report":
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.",
                                          dir=self.out_dir.parent))
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            return False
        try:
            (self._tmp / "report.md").write_text("\n".join(self._parts) + "\n")
            (self._tmp / "metrics.json").write_text(
                json.dumps(self._metrics, indent=2, sort_keys=True, default=_json_default) + "\n")
            old = None
            if self.out_dir.exists():
                old = self.out_dir.with_name(f".{self.out_dir.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(self.out_dir, old)
            os.replace(self._tmp, self.out_dir)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        return False

    @property
    def path(self) -> Path:
        """Where files go while the report is being written."""
        if self._tmp is None:
            raise RuntimeError("use Report as a context manager: `with Report(dir) as r:`")
        return self._tmp

    def heading(self, text: str, level: int = 2) -> None:
        self._parts.append(f"{'#' * level} {text}\n")

    def text(self, text: str) -> None:
        self._parts.append(text.rstrip() + "\n")

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self._parts.append(markdown_table(headers, rows) + "\n")

    def figure(self, name: str, fig, caption: str = "") -> Path:
        """Save a matplotlib figure as ``name`` (PNG) and link it from the markdown."""
        path = self.path / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        self._parts.append(f"![{caption or name}]({name})\n")
        return path

    def metrics(self, data: dict) -> None:
        """Merge ``data`` into ``metrics.json``."""
        self._metrics.update(data)


def new_figure(*args, **kwargs):
    """``plt.subplots`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)
