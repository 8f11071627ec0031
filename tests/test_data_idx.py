"""The hand-written IDX reader: real MNIST files, every dtype code, and crafted bad files."""

from __future__ import annotations

import gzip
import hashlib
import re
import struct

import numpy as np
import pytest

from mlsandbox.data import DataFormatError, DataNotFoundError, read_idx, read_idx_header


def idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


def write(path, data: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# ------------------------------------------------------------------------- real files


def test_real_mnist_headers(shared_data):
    mnist = shared_data / "mnist"
    assert read_idx_header(mnist / "train-images-idx3-ubyte.gz") == (
        np.dtype("u1"),
        (60000, 28, 28),
        47_040_000,
    )
    assert read_idx_header(mnist / "t10k-labels-idx1-ubyte.gz") == (
        np.dtype("u1"),
        (10000,),
        10_000,
    )


def test_real_mnist_test_images_match_published_uncompressed_md5(shared_data):
    x = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8 and x.flags.writeable
    rebuilt = idx_bytes(0x08, x.shape, x.tobytes())  # header + payload = the uncompressed file
    assert hashlib.md5(rebuilt).hexdigest() == "2646ac647ad5339dbf082846283269ea"  # MANIFEST.md


def test_raw_and_gzip_read_the_same(tmp_path, shared_data):
    labels = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    raw = write(tmp_path / "labels.idx", idx_bytes(0x08, (10000,), labels.tobytes()))
    np.testing.assert_array_equal(read_idx(raw), labels)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


# ------------------------------------------------------------------- every dtype code


@pytest.mark.parametrize(
    "code, dtype",
    [(0x08, "u1"), (0x09, "i1"), (0x0B, "i2"), (0x0C, "i4"), (0x0D, "f4"), (0x0E, "f8")],
)
@pytest.mark.parametrize("gz", [False, True])
def test_every_dtype_code_big_endian(tmp_path, code, dtype, gz):
    want = (np.arange(24).reshape(2, 3, 4) * 10 - (0 if dtype == "u1" else 100)).astype(dtype)
    payload = want.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    path = write(tmp_path / "x.idx", idx_bytes(code, (2, 3, 4), payload), gz)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, want)
    got[0, 0, 0] = 1  # writable


# ------------------------------------------------------------------------- bad files


def error_for(path) -> str:
    with pytest.raises(DataFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message, message
    return message


def test_wrong_magic(tmp_path):
    path = write(tmp_path / "bad_magic.idx", b"\x01\x00\x08\x01" + struct.pack(">I", 3) + b"abc")
    assert "magic number starts with 01 00, expected 00 00" in error_for(path)


def test_bad_dtype_code(tmp_path):
    path = write(tmp_path / "bad_code.idx", idx_bytes(0x0A, (3,), b"abc"))
    message = error_for(path)
    assert (
        "unknown IDX dtype code 0x0A" in message
        and "0x08 uint8" in message
        and "0x0E float64" in message
    )


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path, gz):
    path = write(tmp_path / "short.idx", idx_bytes(0x08, (10, 28, 28), bytes(7000)), gz)
    message = error_for(path)
    assert (
        "truncated IDX payload: found 7,000 bytes, expected 7,840 (10 x 28 x 28 values of uint8)"
        in message
    )


@pytest.mark.parametrize("gz", [False, True])
def test_trailing_bytes(tmp_path, gz):
    path = write(tmp_path / "long.idx", idx_bytes(0x0C, (5,), bytes(20 + 3)), gz)
    assert "3 unexpected trailing bytes" in error_for(path)
    assert "expected 20" in error_for(path)


def test_truncated_header(tmp_path):
    assert "too short for an IDX header" in error_for(write(tmp_path / "empty.idx", b""))
    path = write(tmp_path / "dims.idx", b"\x00\x00\x08\x03" + struct.pack(">I", 60000))
    assert "found 4 bytes of dimensions, expected 12" in error_for(path)
    assert "0 dimensions" in error_for(write(tmp_path / "zero.idx", b"\x00\x00\x08\x00"))


def test_forged_huge_dims_do_not_allocate(tmp_path):
    path = write(tmp_path / "huge.idx", idx_bytes(0x0E, (2**32 - 1,) * 3, bytes(16)))
    assert re.search(r"found 16 bytes, expected [\d,]+", error_for(path))


def test_bad_gzip_stream(tmp_path):
    good = gzip.compress(idx_bytes(0x08, (1000,), bytes(range(250)) * 4))
    garbage = write(tmp_path / "garbage.gz", good[:10] + b"\xff" * 50)  # gzip header, then junk
    assert "corrupt gzip data" in error_for(garbage)
    cut = write(tmp_path / "cut.gz", good[: len(good) // 2])  # EOFError inside the stream
    assert "corrupt gzip data (EOFError" in error_for(cut)
    crc = bytearray(good)
    crc[-8] ^= 0xFF  # CRC32 field of the trailer
    assert "corrupt gzip data (BadGzipFile: CRC check failed" in error_for(
        write(tmp_path / "crc.gz", bytes(crc))
    )


def test_truncated_real_gzip(tmp_path, shared_data):
    data = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    path = write(tmp_path / "t10k-labels-idx1-ubyte.gz", data[:3000])
    assert "corrupt gzip data" in error_for(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError, match=re.escape(str(tmp_path / "nope.gz"))):
        read_idx(tmp_path / "nope.gz")
