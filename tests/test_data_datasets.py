"""Loaders on real data: MNIST (shared/data), Fashion-MNIST (Debian package), sklearn sets."""

from __future__ import annotations

import hashlib
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pooch
import pytest

import mlsandbox.data as data
from mlsandbox.data import (
    ChecksumError,
    DataFormatError,
    DataNotFoundError,
    Dataset,
    integrity,
    sources,
)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_LISTING = """
440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  train-images-idx3-ubyte.gz
3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  train-labels-idx1-ubyte.gz
8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  t10k-images-idx3-ubyte.gz
f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  t10k-labels-idx1-ubyte.gz
"""  # MANIFEST.md
MNIST_SHA256 = {name: h for h, name in map(str.split, MNIST_LISTING.strip().splitlines())}


def idx_md5(array: np.ndarray) -> str:
    """md5 of the uncompressed IDX file that holds ``array`` (uint8)."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return hashlib.md5(header + array.astype(np.uint8).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def mnist(shared_data) -> Dataset:
    return data.load_mnist(shared_data)


@pytest.fixture(scope="module")
def fashion() -> Dataset:
    if not sources.FASHION_MNIST_SYSTEM_DIR.is_dir():
        pytest.skip("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
    return data.load_fashion_mnist()


def copy_mnist(shared_data: Path, data_dir: Path) -> Path:
    shutil.copytree(shared_data / "mnist", data_dir / "mnist")
    for p in (data_dir / "mnist").iterdir():
        p.chmod(0o644)
    return data_dir / "mnist"


# ----------------------------------------------------------------------------- MNIST


def test_mnist_shapes_dtypes_and_source(mnist, shared_data):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28) and mnist.x_test.dtype == np.uint8
    assert mnist.y_train.shape == (60000,) and mnist.y_train.dtype == np.int64
    assert mnist.y_test.shape == (10000,) and mnist.y_test.dtype == np.int64
    assert mnist.name == "mnist" and mnist.source == str(shared_data / "mnist")
    assert mnist.classes == [str(d) for d in range(10)] and mnist.scale == 255


def test_mnist_label_counts_and_content(mnist):
    assert np.bincount(mnist.y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(mnist.y_test).tolist() == MNIST_TEST_COUNTS
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    # the first digit (a 5): its pixel sum, and its ink only inside the central 20x20 box
    assert int(mnist.x_train[0].sum()) == 27525 and int(mnist.x_test[0].sum()) == 18454
    assert mnist.x_train[0, :4].max() == 0 and mnist.x_train[0].max() == 255


def test_mnist_arrays_equal_published_uncompressed_files(mnist):
    assert idx_md5(mnist.x_train) == "6bbc9ace898e44ae57da46a324031adb"
    assert idx_md5(mnist.y_train) == "a25bea736e30d166cdddb491f175f624"
    assert idx_md5(mnist.x_test) == "2646ac647ad5339dbf082846283269ea"
    assert idx_md5(mnist.y_test) == "27ae3e4e09519cfbb04c329615203637"


def test_features_scaled_to_unit_interval(mnist):
    x = mnist.features("test", "float64")
    assert x.shape == (10000, 784) and x.dtype == np.float64
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x[0], mnist.x_test[0].reshape(-1) / 255.0)
    assert data.as_features(mnist.x_test[:5]).dtype == np.float32
    with pytest.raises(TypeError, match="float"):
        data.as_features(mnist.x_test, "int32")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        mnist.features("val")


def test_shipped_checksums_match_manifest_and_shared(shared_data):
    assert data.datasets.mnist_sha256() == MNIST_SHA256
    for name in ("mnist", "pizza_steak_sushi"):
        shipped = Path(integrity.__file__).parent / "checksums" / f"{name}.sha256"
        assert shipped.read_bytes() == (shared_data / "checksums" / f"{name}.sha256").read_bytes()


def test_data_dir_from_env(monkeypatch, shared_data, tmp_path):
    monkeypatch.setenv("MLSANDBOX_DATA", str(shared_data))
    assert sources.resolve_data_dir() == shared_data
    assert sources.resolve_data_dir(tmp_path) == tmp_path  # the argument wins
    assert data.load_mnist().source == str(shared_data / "mnist")
    monkeypatch.delenv("MLSANDBOX_DATA")
    assert sources.resolve_data_dir() == Path(pooch.os_cache("mlsandbox"))


def test_missing_mnist_says_how_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        data.load_mnist(tmp_path)
    message = str(info.value)
    assert (
        str(tmp_path / "mnist") in message
        and "download=True" in message
        and "MLSANDBOX_DATA" in message
    )
    assert "train-images-idx3-ubyte.gz" in message
    assert not (tmp_path / "mnist").exists()  # nothing created without download=True


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_local_mnist_file(tmp_path, shared_data, damage):
    folder = copy_mnist(shared_data, tmp_path)
    path = folder / "train-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[1000] ^= 0x01
    else:
        raw = raw[:20000]
    path.write_bytes(bytes(raw))
    actual = hashlib.sha256(raw).hexdigest()
    with pytest.raises(ChecksumError) as info:
        data.load_mnist(tmp_path)
    message = str(info.value)
    assert str(path) in message and actual in message and MNIST_SHA256[path.name] in message
    assert "download=True" in message and "https://" in message


def test_sha256_is_cached_per_path_mtime_size(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    want = hashlib.sha256(b"abc").hexdigest()
    assert integrity.sha256_file(path) == want
    monkeypatch.setattr(integrity.hashlib, "sha256", None)  # a cache miss would crash
    assert integrity.sha256_file(path) == want
    monkeypatch.undo()
    path.write_bytes(b"abcd")  # new size (and mtime): hashed again
    assert integrity.sha256_file(path) == hashlib.sha256(b"abcd").hexdigest()


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown kind 'kmnist', expected 'mnist' or 'fashion'"):
        data.load_mnist(kind="kmnist")


# --------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_from_debian_package(fashion):
    assert fashion.x_train.shape == (60000, 28, 28) and fashion.x_train.dtype == np.uint8
    assert fashion.x_test.shape == (10000, 28, 28) and fashion.y_test.dtype == np.int64
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert np.bincount(fashion.y_test).tolist() == [1000] * 10
    assert fashion.classes[0] == "T-shirt/top" and fashion.classes[9] == "Ankle boot"
    assert (
        fashion.source == str(sources.FASHION_MNIST_SYSTEM_DIR) and fashion.name == "fashion_mnist"
    )
    # the uncompressed label files equal upstream's (MANIFEST.md)
    assert idx_md5(fashion.y_train) == "9018921c3c673c538a1fc5bad174d6f9"
    assert idx_md5(fashion.y_test) == "15d484375f8d13e6eb1aabb0c3f46965"
    assert fashion.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


def test_fashion_found_under_data_dir_first(fashion, tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for name in data.datasets.IDX_FILES.values():
        (folder / name).symlink_to(Path(fashion.source) / name)
    got = data.load_mnist(tmp_path, kind="fashion")
    assert got.source == str(folder)
    np.testing.assert_array_equal(got.y_test, fashion.y_test)


def test_fashion_missing_says_apt_get(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSANDBOX_FASHION_MNIST_DIR", str(tmp_path / "none"))
    with pytest.raises(DataNotFoundError) as info:
        data.load_mnist(tmp_path, kind="fashion", download=True)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message and "data_dir" in message
    assert str(tmp_path / "fashion-mnist") in message and "not supported" in message


def test_fashion_wrong_shape_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSANDBOX_FASHION_MNIST_DIR", str(tmp_path))
    for name in data.datasets.IDX_FILES.values():
        (tmp_path / name).write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + b"\x01\x02\x03")
    with pytest.raises(DataFormatError) as info:
        data.load_fashion_mnist(tmp_path / "elsewhere")
    assert re.search(
        r"train-images-idx3-ubyte.gz: found uint8 array of shape \(3,\), expected uint8 "
        r"of shape \(60000, 28, 28\)",
        str(info.value),
    )


# -------------------------------------------------------------------- scikit-learn sets


def test_digits_split():
    digits = data.load_digits()
    assert digits.x_train.shape == (1437, 8, 8) and digits.x_test.shape == (360, 8, 8)
    assert digits.x_train.dtype == np.uint8 and digits.y_train.dtype == np.int64
    assert digits.x_train.max() == 16 and digits.scale == 16
    total = np.bincount(np.concatenate([digits.y_train, digits.y_test]))
    assert total.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert np.abs(np.bincount(digits.y_test) - total * 360 / 1797).max() < 1  # stratified
    again = data.load_digits()
    np.testing.assert_array_equal(again.y_test, digits.y_test)  # deterministic
    f = digits.features("train")
    assert f.shape == (1437, 64) and f.max() == 1.0


def test_breast_cancer_unsplit():
    bc = data.load_breast_cancer()
    assert bc.x_train.shape == (569, 30) and bc.x_train.dtype == np.float64
    assert np.bincount(bc.y_train).tolist() == [212, 357] and bc.classes == ["malignant", "benign"]
    assert bc.x_test.shape == (0, 30) and bc.y_test.shape == (0,) and bc.y_test.dtype == np.int64
    assert bc.features().dtype == np.float32 and bc.scale == 1.0 and len(bc.feature_names) == 30


# ------------------------------------------- one dataset never passes as the other


def linked_folder(src: Path, dest: Path, replace: dict[str, Path] | None = None) -> Path:
    """``dest`` holding symlinks to the four IDX files of ``src`` (some from elsewhere)."""
    dest.mkdir(parents=True)
    for name in data.datasets.IDX_FILES.values():
        (dest / name).symlink_to((replace or {}).get(name, src / name))
    return dest


def test_fashion_loader_refuses_mnist_files(shared_data):
    with pytest.raises(ChecksumError) as info:
        data.load_fashion_mnist(shared_data / "mnist")
    message = str(info.value)
    assert f"{shared_data / 'mnist'} holds MNIST (handwritten digits), not Fashion-MNIST" in message
    assert "load_mnist (CLI: --data mnist)" in message


def test_mnist_loader_refuses_fashion_files(fashion, tmp_path):
    linked_folder(Path(fashion.source), tmp_path / "mnist")
    with pytest.raises(ChecksumError) as info:
        data.load_mnist(tmp_path)
    message = str(info.value)
    assert "holds Fashion-MNIST (clothing), not MNIST" in message
    assert "load_fashion_mnist (CLI: --data fashion)" in message


def test_one_swapped_file_is_named(fashion, shared_data, tmp_path):
    name = "t10k-labels-idx1-ubyte.gz"
    folder = linked_folder(Path(fashion.source), tmp_path / "f",
                           {name: shared_data / "mnist" / name})
    with pytest.raises(ChecksumError) as info:
        data.load_fashion_mnist(folder)
    message = str(info.value)
    assert f"{folder}: not the published Fashion-MNIST files: {name}: uncompressed" in message
    assert f"(that is MNIST's {name})" in message
    assert data.datasets.uncompressed_sha256("fashion_mnist")[name] in message


def test_altered_fashion_content_is_refused(fashion, tmp_path):
    import gzip

    folder = linked_folder(Path(fashion.source), tmp_path / "f",
                           {"t10k-labels-idx1-ubyte.gz": tmp_path / "labels.gz"})
    labels = fashion.y_test.astype(np.uint8).copy()
    labels[0] = (labels[0] + 1) % 10  # one label changed: still a valid IDX file
    header = bytes([0, 0, 8, 1]) + struct.pack(">I", len(labels))
    (tmp_path / "labels.gz").write_bytes(gzip.compress(header + labels.tobytes()))
    with pytest.raises(ChecksumError, match=r"not the published Fashion-MNIST files: "
                                            r"t10k-labels-idx1-ubyte.gz: uncompressed sha256"):
        data.load_fashion_mnist(folder)


def test_recompressed_mnist_is_accepted_by_content(shared_data, tmp_path):
    import gzip

    name = "t10k-labels-idx1-ubyte.gz"
    recompressed = tmp_path / "recompressed.gz"
    raw = gzip.decompress((shared_data / "mnist" / name).read_bytes())
    recompressed.write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
    linked_folder(shared_data / "mnist", tmp_path / "d" / "mnist", {name: recompressed})
    ds = data.load_mnist(tmp_path / "d")
    assert np.bincount(ds.y_test).tolist() == MNIST_TEST_COUNTS


def test_uncompressed_listings_describe_the_real_files(mnist, fashion):
    for ds, dataset in ((mnist, "mnist"), (fashion, "fashion_mnist")):
        want = data.datasets.uncompressed_sha256(dataset)
        for key, name in data.datasets.IDX_FILES.items():
            assert data.datasets._idx_sha256(getattr(ds, key)) == want[name], (dataset, name)
