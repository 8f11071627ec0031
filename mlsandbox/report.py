"""Report directories: markdown, JSON metrics and PNG plots, written all or nothing.

>>> with Report("reports/mlp") as r:            # doctest: +SKIP
...     r.heading("MLP on MNIST")
...     r.table(["framework", "loss"], [["numpy", 0.31]])
...     r.figure("loss.png", fig)
...     r.metrics({"numpy": {"loss": 0.31}})

Everything goes to a temporary sibling directory first; only when the ``with`` block
ends without an error is it renamed to ``out_dir`` (an older report there is replaced).
After a failure nothing is left behind; the temporary folders of runs that were killed
(``.<name>.<pid>-*`` whose process is dead, or any over a day old) are removed by the
next report into the same place.  ``out_dir`` must be absent, empty or an earlier report
(it holds ``report.md``): a regular file or a folder of other things is refused before
anything runs (:func:`check_out_dir`), never moved aside.  The report folder gets the
mode a plain ``mkdir`` gives (``0777`` less the umask), not ``mkdtemp``'s ``0700``.
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


#: temporary report folders of a live run older than this are swept as abandoned
STALE_AFTER_S = 86400.0


def check_out_dir(out_dir) -> Path:
    """``out_dir`` as an absolute path, if a report may be written there; else ValueError.

    Allowed: a path that does not exist yet (its nearest existing ancestor a folder), an
    empty folder, or an earlier report (a folder holding ``report.md``), which the new
    report replaces.  Refused, naming the path: a regular file (or anything not a
    folder), and a folder holding other things, so that a report never hides or deletes
    what was there.
    """
    path = Path(out_dir).expanduser().absolute()
    if path.name in ("", ".", ".."):
        raise ValueError(f"report folder (--out) {out_dir!r}: expected a folder's path")
    if path.exists() or path.is_symlink():
        if not path.is_dir() or path.is_symlink():
            raise ValueError(f"report folder (--out) {path} exists and is not a folder; the "
                             "report would replace it. Choose another --out, or move the "
                             "file away")
        if any(path.iterdir()) and not (path / "report.md").is_file():
            raise ValueError(f"report folder (--out) {path} is not empty and holds no "
                             "report (no report.md); the report would replace it. Choose "
                             "another --out (e.g. a new sub-folder)")
        return path
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"report folder (--out) {path}: cannot create it, {parent} "
                                 "is not a folder")
            break
    return path


class Report:
    """A report directory under construction (use as a context manager)."""

    def __init__(self, out_dir, title: str | None = None):
        self.out_dir = Path(out_dir)
        self._parts: list[str] = [f"# {title}\n"] if title else []
        self._metrics: dict = {}
        self._tmp: Path | None = None

    def __enter__(self) -> "Report":
        from kernels.fsutil import process_umask
        from mlsandbox.data.sources import sweep_stale

        self.out_dir = check_out_dir(self.out_dir)
        parent = self.out_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{self.out_dir.name}."
        sweep_stale(parent, prefix, STALE_AFTER_S)
        self._tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
        os.chmod(self._tmp, 0o777 & ~process_umask())
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            return False
        try:
            (self._tmp / "report.md").write_text("\n".join(self._parts) + "\n")
            (self._tmp / "metrics.json").write_text(
                json.dumps(self._metrics, indent=2, sort_keys=True, default=_json_default) + "\n")
            check_out_dir(self.out_dir)  # still a report (or nothing) after the run
            old = None
            if self.out_dir.exists():
                old = self.out_dir.with_name(f".{self.out_dir.name}.{os.getpid()}-old")
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
