"""A hand-written reader for the IDX format of MNIST and Fashion-MNIST.

Layout (all integers big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                            0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4*d bytes   the dimensions, uint32 each
    payload     prod(dims) values of that dtype, big-endian, C order

So MNIST's ``train-images-idx3-ubyte`` starts ``00 00 08 03`` (magic 2051) followed by
60000, 28, 28.  The file may be raw or gzip-compressed (detected from its first two
bytes, not its name).  Every inconsistency raises :class:`DataFormatError` naming the
file, what was found and what was expected.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from .errors import DataFormatError, DataNotFoundError

#: dtype code (byte 2 of the magic number) -> big-endian NumPy dtype of the payload.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 24  # read at most 16 MiB at a time: a forged header cannot make us allocate more
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class IdxHeader(NamedTuple):
    """The parsed header: payload ``dtype`` (native byte order), ``shape`` and its byte
    size ``nbytes`` (what the payload length must equal)."""

    dtype: np.dtype
    shape: tuple[int, ...]
    nbytes: int


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a whole IDX file (raw or ``.gz``) into a writable array in native byte order.

    Returns an array of shape ``dims`` (e.g. ``(60000, 28, 28)`` uint8 for MNIST train
    images, ``(60000,)`` uint8 for its labels).

    Raises :class:`DataFormatError` for a bad magic number or dtype code, a payload
    shorter or longer than ``prod(dims) * itemsize``, or a corrupt gzip stream, and
    :class:`DataNotFoundError` when the file does not exist.
    """
    path = Path(path)
    with _open(path) as f:
        try:
            header = _read_header(f, path)
            payload = _read_at_most(f, header.nbytes)
            if len(payload) < header.nbytes:
                raise DataFormatError(
                    f"{path}: truncated IDX payload: found {len(payload):,} bytes, expected "
                    f"{header.nbytes:,} ({' x '.join(map(str, header.shape))} values of "
                    f"{header.dtype.name})"
                )
            trailing = _count_rest(f)
        except _GZIP_ERRORS as e:
            raise DataFormatError(f"{path}: corrupt gzip data ({type(e).__name__}: {e})") from e
    if trailing:
        raise DataFormatError(
            f"{path}: {trailing:,} unexpected trailing bytes after the IDX payload: found "
            f"{header.nbytes + trailing:,} payload bytes, expected {header.nbytes:,} "
            f"({' x '.join(map(str, header.shape))} values of {header.dtype.name})"
        )
    big_endian = IDX_DTYPES[_code_of(header.dtype)]
    array = np.frombuffer(payload, dtype=big_endian).reshape(header.shape)
    if big_endian.itemsize > 1:  # byte-swap to native; astype also copies
        return array.astype(header.dtype)
    return array  # frombuffer over a bytearray is already writable


def read_idx_header(path: str | os.PathLike) -> IdxHeader:
    """Parse only the header of an IDX file (cheap: reads a few bytes)."""
    path = Path(path)
    with _open(path) as f:
        try:
            return _read_header(f, path)
        except _GZIP_ERRORS as e:
            raise DataFormatError(f"{path}: corrupt gzip data ({type(e).__name__}: {e})") from e


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    """Open ``path`` for reading, through gzip when it starts with the gzip magic bytes."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the `with raw:` below
    except FileNotFoundError:
        raise DataNotFoundError(f"{path}: no such file") from None
    with raw:
        if raw.read(2) != _GZIP_MAGIC:
            raw.seek(0)
            yield raw
            return
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            yield gz  # type: ignore[misc]


def _read_header(f: BinaryIO, path: Path) -> IdxHeader:
    magic = f.read(4)
    if len(magic) < 4:
        raise DataFormatError(
            f"{path}: file too short for an IDX header: found {len(magic)} bytes, expected at "
            "least 4 (00 00 <dtype code> <number of dims>)"
        )
    if magic[:2] != b"\x00\x00":
        raise DataFormatError(
            f"{path}: not an IDX file: magic number starts with {magic[:2].hex(' ')}, "
            "expected 00 00"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} {d.name}" for c, d in IDX_DTYPES.items())
        raise DataFormatError(
            f"{path}: unknown IDX dtype code 0x{code:02X}, expected one of {known}"
        )
    if ndim == 0:
        raise DataFormatError(f"{path}: IDX header declares 0 dimensions, expected at least 1")
    dims_raw = f.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataFormatError(
            f"{path}: truncated IDX header: found {len(dims_raw)} bytes of dimensions, "
            f"expected {4 * ndim} ({ndim} dims x 4 bytes)"
        )
    shape = struct.unpack(f">{ndim}I", dims_raw)
    dtype = IDX_DTYPES[code].newbyteorder("=")
    return IdxHeader(dtype, shape, math.prod(shape) * dtype.itemsize)  # Python ints: no overflow


def _code_of(dtype: np.dtype) -> int:
    return next(c for c, d in IDX_DTYPES.items() if d.newbyteorder("=") == dtype)


def _read_at_most(f: BinaryIO, n: int) -> bytearray:
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(n - len(buf), _CHUNK))
        if not chunk:
            break
        buf += chunk
    return buf


def _count_rest(f: BinaryIO) -> int:
    count = 0
    while chunk := f.read(_CHUNK):
        count += len(chunk)
    return count
