"""sha256 checks: hashing with an in-process cache, and the listings shipped in the package.

The listings under ``mlsandbox/data/checksums/<dataset>.sha256`` are copies of
``shared/data/checksums/`` in ``sha256sum`` format (``<hex>  <relative path>`` per line).
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

from .errors import ChecksumError

# (resolved path, mtime_ns, size) -> sha256 hex; a changed file changes its key.
_SHA256_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file, cached per (path, mtime, size) in this process."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _SHA256_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        _SHA256_CACHE[key] = h.hexdigest()
    return _SHA256_CACHE[key]


def parse_listing(text: str) -> dict[str, str]:
    """Parse ``sha256sum`` output into ``{relative path: sha256}`` (file order kept)."""
    listing = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ValueError(f"line {lineno} of a sha256 listing is malformed: {line!r}")
        listing[name.lstrip("*")] = digest.lower()
    return listing


def packaged_listing(dataset: str) -> dict[str, str]:
    """The shipped listing ``checksums/<dataset>.sha256`` as ``{relative path: sha256}``."""
    text = (resources.files(__package__) / "checksums" / f"{dataset}.sha256").read_text("utf-8")
    return parse_listing(text)


def verify_file(path: str | os.PathLike, expected: str, how_to_fix: str = "") -> None:
    """Raise :class:`ChecksumError` unless ``sha256(path) == expected``.

    The message names the file, its size, the actual and the expected sha256, and
    ``how_to_fix``.
    """
    actual = sha256_file(path)
    if actual != expected:
        size = Path(path).stat().st_size
        raise ChecksumError(
            f"{path}: sha256 mismatch (file is corrupt, truncated or not the published one): "
            f"got {actual} ({size:,} bytes), expected {expected}."
            + (f" {how_to_fix}" if how_to_fix else "")
        )


def verify_tree(
    root: str | os.PathLike, listing: dict[str, str], *, strict: bool = False, how_to_fix: str = ""
) -> None:
    """Check every file of ``listing`` under ``root``; raise one :class:`ChecksumError` for all.

    The error lists missing and mismatching files (and, with ``strict=True``, files and
    folders under ``root`` that the listing does not name: hidden ones too, and empty
    folders such as an extra class), up to five of each, then ``how_to_fix``.
    """
    root = Path(root)
    missing, bad = [], []
    for rel, expected in listing.items():
        p = root / rel
        if not p.is_file():
            missing.append(rel)
        elif sha256_file(p) != expected:
            bad.append(f"{rel} (got {sha256_file(p)}, expected {expected})")
    extra = []
    if strict:
        folders = {parent.as_posix() for rel in listing for parent in Path(rel).parents}
        for p in root.rglob("*"):
            rel = p.relative_to(root).as_posix()
            if p.is_dir() and not p.is_symlink():
                if rel not in folders:
                    extra.append(rel + "/")
            elif rel not in listing:
                extra.append(rel)
        extra.sort()
    problems = [
        f"{len(items)} {what}: " + "; ".join(items[:5]) + (" ..." if len(items) > 5 else "")
        for what, items in (("missing", missing), ("with wrong sha256", bad), ("unexpected", extra))
        if items
    ]
    if problems:
        raise ChecksumError(
            f"{root}: does not match its sha256 listing of {len(listing)} files: "
            + "; ".join(problems)
            + (f". {how_to_fix}" if how_to_fix else "")
        )
