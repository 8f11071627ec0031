"""Errors raised by the data layer.

Every message names the file (or URL) that was wrong, what was found, what was expected
and, where it helps, how to fix it.  They subclass the built-in exception a caller would
naturally catch (``ValueError`` for bad contents, ``FileNotFoundError`` for missing data),
so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class DataError(Exception):
    """Base class of every error of :mod:`mlsandbox.data`."""


class DataFormatError(DataError, ValueError):
    """A file exists but its contents are not what the format requires (IDX, gzip, image)."""


class ChecksumError(DataFormatError):
    """A file's sha256 differs from the published one (corrupt, truncated or replaced)."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A dataset's files are not where we looked; the message says where and how to get them."""


class DownloadError(DataError, OSError):
    """A download failed (HTTP error, no connection, unwritable target directory)."""


class UnsafeArchiveError(DataFormatError):
    """An archive member would be written outside the target directory (or is a link)."""
