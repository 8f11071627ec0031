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

``Report(out_dir, title, html=True)`` also writes ``report.html``, the same content as
one self-contained page (figures embedded as ``data:`` URIs, no external links or
scripts).  ``report.section(name)`` is a report inside the report (the all-studies
report holds one per study): a study writes into either the same way.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
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
    """A GitHub-flavoured markdown table; floats shown with 4 significant digits, a ``|``
    inside a cell escaped."""
    def line(cells):
        return "| " + " | ".join(_cell(v).replace("|", "\\|") for v in cells) + " |"

    return "\n".join([line(headers), "|" + "---|" * len(headers), *map(line, rows)])


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


class _Writer:
    """What a report and a section of one write alike: headings, text, tables, figures.

    Everything is kept as blocks, rendered at the end as markdown (``report.md``) and,
    when asked, as a self-contained HTML page (``report.html``)."""

    _shift = 0                                 # heading levels added (a section: 1)

    def _add(self, block: tuple) -> None:
        self._blocks.append(block)

    def _link(self, name: str) -> str:
        return name

    def heading(self, text: str, level: int = 2) -> None:
        self._add(("heading", min(6, level + self._shift), text))

    def text(self, text: str) -> None:
        self._add(("text", text.rstrip()))

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self._add(("table", [str(h) for h in headers], [[_cell(v) for v in row] for row in rows]))

    def figure(self, name: str, fig, caption: str = "") -> Path:
        """Save a matplotlib figure as ``name`` (PNG) and link it from the report."""
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        self._add(("figure", self._link(name), caption or name))
        return path


class Report(_Writer):
    """A report directory under construction (use as a context manager).

    ``html=True`` also writes ``report.html``: the same content as one self-contained
    page, its figures embedded (:func:`html_page`)."""

    def __init__(self, out_dir, title: str | None = None, *, html: bool = False):
        self.out_dir = Path(out_dir)
        #: the folder as the caller named it (for text that shows where the files are)
        self.given_dir = Path(out_dir)
        self.html = html
        self._blocks: list[tuple] = []
        self._metrics: dict = {}
        self._tmp: Path | None = None
        if title:
            self.heading(title, 1)

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
            (self._tmp / "report.md").write_text(markdown(self._blocks))
            if self.html:
                (self._tmp / "report.html").write_text(html_page(self._blocks, self._tmp))
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

    def metrics(self, data: dict) -> None:
        """Merge ``data`` into ``metrics.json``."""
        self._metrics.update(data)

    def section(self, name: str, key: str = "sections") -> "Section":
        """A part of this report written as if it were a report of its own (a study
        inside the all-studies report): see :class:`Section`.  Nothing of it shows until
        :meth:`append` places it."""
        return Section(self, name, key)

    def append(self, section: "Section") -> None:
        """Place ``section``'s headings, text, tables and figures here."""
        self._blocks.extend(section._blocks)


class Section(_Writer):
    """A report inside a report: what is written to it goes one heading level down, its
    files into the sub-folder ``name`` and its metrics under ``metrics[key][name]``.

    It has the methods of :class:`Report` that a study uses, so a study writes the same
    way into its own report and into a section of a bigger one."""

    _shift = 1

    def __init__(self, report: Report, name: str, key: str):
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"section name must be a plain folder name, got {name!r}")
        self.report, self.name, self.key = report, name, key
        self.given_dir = report.given_dir / name
        self._blocks: list[tuple] = []

    def _link(self, name: str) -> str:
        return f"{self.name}/{name}"

    @property
    def path(self) -> Path:
        """This section's sub-folder of the report under construction."""
        path = self.report.path / self.name
        path.mkdir(exist_ok=True)
        return path

    def metrics(self, data: dict) -> None:
        """Merge ``data`` into ``metrics.json`` under ``[key][name]``."""
        self.report._metrics.setdefault(self.key, {}).setdefault(self.name, {}).update(data)


# -- rendering ---------------------------------------------------------------------------
def markdown(blocks: Sequence[tuple]) -> str:
    """``report.md``: the blocks as GitHub-flavoured markdown."""
    parts = []
    for kind, *args in blocks:
        if kind == "heading":
            parts.append(f"{'#' * args[0]} {args[1]}\n")
        elif kind == "text":
            parts.append(args[0] + "\n")
        elif kind == "table":
            parts.append(markdown_table(*args) + "\n")
        elif kind == "figure":
            parts.append(f"![{args[1]}]({args[0]})\n")
        else:  # pragma: no cover - the writers make no other kind
            raise ValueError(f"unknown report block {kind!r}")
    return "\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Markdown inline text as HTML: escaped, `code` and **bold** kept, ``\\|`` as ``|``."""
    out = []
    for i, piece in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2:
            out.append(f"<code>{html.escape(piece)}</code>")
        else:
            piece = html.escape(piece.replace("\\|", "|"), quote=False)
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", piece))
    return "".join(out)


def _slug(text: str, seen: set) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, i = base, 2
    while slug in seen:
        slug, i = f"{base}-{i}", i + 1
    seen.add(slug)
    return slug


_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg",
         ".jpeg": "image/jpeg"}

_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; }
main { max-width: 1200px; margin: 0 auto; padding: 1em 2em 4em; }
h1 { font-size: 1.7em; } h2 { border-bottom: 1px solid #ddd; margin-top: 2em; }
nav ul { columns: 2; padding-left: 1.2em; }
.table { overflow-x: auto; margin: 0.8em 0; }
table { border-collapse: collapse; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.55em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
code { background: #f3f3f3; padding: 0 0.2em; border-radius: 3px; font-size: 0.92em; }
td code { overflow-wrap: anywhere; }
"""

#: records after load how many images decoded (``data-images-loaded`` of ``<body>``, out
#: of ``data-images``), so that a headless browser's ``--dump-dom`` shows it
_LOAD_CHECK = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-images-loaded", String(loaded.length));
});
"""


def html_page(blocks: Sequence[tuple], folder) -> str:
    """``report.html``: the blocks as one self-contained page.  Figures are read from
    ``folder`` and embedded as base64 ``data:`` URIs; there are no external links,
    stylesheets or scripts (one inline script records whether every image decoded), and
    level-2 headings get a table of contents."""
    folder = Path(folder)
    seen: set = set()
    title, toc, body = "Report", [], []
    for kind, *args in blocks:
        if kind == "heading":
            level, text = args
            slug = _slug(text, seen)
            if level == 1 and title == "Report":
                title = text
            if level == 2:
                toc.append(f'<li><a href="#{slug}">{_inline(text)}</a></li>')
            body.append(f'<h{level} id="{slug}">{_inline(text)}</h{level}>')
        elif kind == "text":
            for para in re.split(r"\n\s*\n", args[0]):
                body.append(f"<p>{_inline(' '.join(para.split()))}</p>")
        elif kind == "table":
            headers, rows = args
            head = "".join(f"<th>{_inline(h)}</th>" for h in headers)
            trs = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                          for row in rows)
            body.append(f'<div class="table"><table><thead><tr>{head}</tr></thead>'
                        f"<tbody>{trs}</tbody></table></div>")
        elif kind == "figure":
            link, caption = args
            path = folder / link
            mime = _MIME.get(path.suffix.lower())
            if mime is None:
                raise ValueError(f"figure {link}: cannot embed a {path.suffix!r} file; "
                                 f"expected one of {sorted(_MIME)}")
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            body.append(f'<figure><img src="data:{mime};base64,{data}" '
                        f'alt="{html.escape(caption)}"><figcaption>{_inline(caption)}'
                        "</figcaption></figure>")
    nav = f'<nav><ul>{"".join(toc)}</ul></nav>' if len(toc) > 1 else ""
    if nav:  # after the first heading and the text under it
        first = next((i for i, b in enumerate(body) if b.startswith("<h2")), len(body))
        body.insert(first, nav)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            "<main>\n" + "\n".join(body) + "\n</main>\n"
            f"<script>{_LOAD_CHECK}</script>\n</body>\n</html>\n")


def new_figure(*args, **kwargs):
    """``plt.subplots`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def replace_marked(path, begin: str, end: str, body: str) -> None:
    """Write ``body`` between the lines ``begin`` and ``end`` of the text file ``path``
    (a generated table inside a hand-written page), whole or not at all; ValueError,
    the file untouched, when the markers are missing or out of order."""
    path = Path(path)
    text = path.read_text()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"{path}: the markers {begin!r} ... {end!r} are missing or out "
                         f"of order")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text[:i + len(begin)] + "\n" + body.strip() + "\n" + text[j:])
    os.replace(tmp, path)
