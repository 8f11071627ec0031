"""The datasets as arrays: MNIST, Fashion-MNIST, and the two that ship with scikit-learn.

Every loader returns a :class:`Dataset` with integer labels (int64 class ids) and the
images or features in their published values (uint8 0..255 for MNIST, 0..16 for
digits); :meth:`Dataset.features` / :func:`as_features` turn them into a float matrix
in [0, 1].

MNIST and Fashion-MNIST share their four file names, so each is identified by content:
MNIST's ``.gz`` files by their published sha256 (``checksums/mnist.sha256``), and both
datasets by the sha256 of the uncompressed IDX files
(``checksums/{mnist,fashion_mnist}-uncompressed.sha256``; Debian re-compressed
Fashion-MNIST, so only the uncompressed bytes can be compared; its label files equal
upstream's by md5).  One dataset can never load as the other: the error says which
dataset the files are.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import sources
from .errors import ChecksumError, DataFormatError, DataNotFoundError, DownloadError
from .idx import read_idx
from .integrity import packaged_listing, verify_file
from .sources import (
    ENV_DATA,
    ENV_FASHION_DIR,
    ENV_MNIST_URL,
    FASHION_MNIST_SYSTEM_DIR,
    MNIST_MIRRORS,
    base_urls,
    download_wanted,
    resolve_data_dir,
    staging_dir,
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labeled dataset split into train and test.

    ``x_*`` hold samples in their published values and dtype: ``(n, 28, 28)`` uint8 for
    MNIST, ``(n, 8, 8)`` uint8 0..16 for digits, ``(n, H, W, 3)`` uint8 for photos,
    ``(n, 30)`` float64 for breast cancer.  ``y_*`` are ``(n,)`` int64 class ids indexing
    ``classes``.  ``scale`` is what :meth:`features` divides by to map pixels into
    [0, 1] (255 for 8-bit images, 16 for digits, 1 for breast cancer: raw features).
    ``source`` says where the data was read from (a directory or the sklearn function).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    source: str
    classes: list[str]
    scale: float = 255.0
    feature_names: list[str] | None = field(default=None, repr=False)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def features(self, split: str = "train", dtype: str | np.dtype = "float32") -> np.ndarray:
        """``x_<split>`` as an ``(n, prod(sample shape))`` float matrix divided by ``scale``."""
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}, expected 'train' or 'test'")
        return as_features(getattr(self, f"x_{split}"), dtype, self.scale)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train {self.x_train.shape} {self.x_train.dtype}, "
            f"test {self.x_test.shape}, {self.n_classes} classes, source={self.source!r})"
        )


def as_features(
    x: np.ndarray, dtype: str | np.dtype = "float32", scale: float = 255.0
) -> np.ndarray:
    """Flatten ``(n, *shape)`` samples to ``(n, prod(shape))`` of float ``dtype``, over ``scale``.

    With the dataset's ``scale`` (see :class:`Dataset`) the result lies in [0, 1]:
    e.g. MNIST ``(60000, 28, 28)`` uint8 -> ``(60000, 784)`` float32 in [0, 1].
    """
    x = np.asarray(x)
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"as_features: dtype must be a float type, got {dtype}")
    if x.ndim < 1:
        raise ValueError("as_features: expected samples of shape (n, ...), got a scalar")
    out = x.reshape(len(x), -1).astype(dtype)
    if scale != 1:
        out /= dtype.type(scale)
    return out


# ------------------------------------------------------------------------ MNIST family

#: Dataset field -> canonical file name (same names for MNIST and Fashion-MNIST).
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
_IDX_SHAPES = {
    "x_train": (60000, 28, 28),
    "y_train": (60000,),
    "x_test": (10000, 28, 28),
    "y_test": (10000,),
}

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


def mnist_sha256() -> dict[str, str]:
    """The published sha256 of each MNIST file, ``{file name: hex}``."""
    return packaged_listing("mnist")


#: dataset -> (name, what it shows, the loader / CLI choice that reads it), for messages
_KNOWN = {
    "mnist": ("MNIST", "handwritten digits", "load_mnist (CLI: --data mnist)"),
    "fashion_mnist": ("Fashion-MNIST", "clothing", "load_fashion_mnist (CLI: --data fashion)"),
}


def uncompressed_sha256(dataset: str) -> dict[str, str]:
    """sha256 of the uncompressed IDX files of ``dataset`` ("mnist" or "fashion_mnist"),
    keyed by the ``.gz`` file names of :data:`IDX_FILES`."""
    listing = packaged_listing(f"{dataset}-uncompressed")
    return {name: listing[name.removesuffix(".gz")] for name in IDX_FILES.values()}


def _idx_sha256(array: np.ndarray) -> str:
    """sha256 of the uncompressed uint8 IDX file that holds ``array`` (header + payload:
    :func:`read_idx` refuses trailing bytes, so this is the file's own hash)."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return hashlib.sha256(header + np.ascontiguousarray(array, np.uint8).tobytes()).hexdigest()


def _identify(name: str, digest: str) -> str | None:
    """Which known dataset's file ``name`` has the uncompressed sha256 ``digest``."""
    for dataset in _KNOWN:
        if uncompressed_sha256(dataset)[name] == digest:
            return dataset
    return None


def _check_content(folder: Path, digests: dict[str, str], want: str) -> None:
    """Raise :class:`ChecksumError` unless every file of ``digests`` is ``want``'s."""
    expected = uncompressed_sha256(want)
    bad = {name: d for name, d in digests.items() if d != expected[name]}
    if not bad:
        return
    title = _KNOWN[want][0]
    found = {name: _identify(name, d) for name, d in bad.items()}
    others = set(found.values()) - {None}
    if len(bad) == len(IDX_FILES) and len(others) == 1 and None not in found.values():
        other, what, reader = _KNOWN[others.pop()]
        raise ChecksumError(
            f"{folder} holds {other} ({what}), not {title}: all four files have {other}'s "
            f"published content (the two datasets use the same file names). Read them with "
            f"{reader}, or point data_dir (CLI: --data-dir) at a folder of {title} files"
        )
    parts = [
        f"{name}: uncompressed sha256 {d}, expected {expected[name]}"
        + (f" (that is {_KNOWN[found[name]][0]}'s {name})" if found[name] else "")
        for name, d in bad.items()
    ]
    raise ChecksumError(
        f"{folder}: not the published {title} files: " + "; ".join(parts)
        + f". Replace them with the published {title} files"
    )


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    kind: str = "mnist",
    url: str | None = None,
    progress: bool = True,
) -> Dataset:
    """MNIST from ``<data_dir>/mnist/`` (the four original IDX .gz files), sha256-verified.

    Returns x_train ``(60000, 28, 28)`` uint8, y_train ``(60000,)`` int64, x_test
    ``(10000, 28, 28)``, y_test ``(10000,)``, classes ``"0".."9"``, scale 255.

    ``data_dir``: see :func:`mlsandbox.data.sources.resolve_data_dir`.  ``download``:
    fetch missing files from ``url`` (a base URL; default ``$MLSANDBOX_MNIST_URL``, else
    :data:`MNIST_MIRRORS` in turn); ``None`` follows
    :func:`~mlsandbox.data.sources.downloads_allowed`.  A ``.gz`` file whose bytes differ
    from the published one is still accepted when its uncompressed content is MNIST's (a
    re-compressed copy); Fashion-MNIST files are refused by name.  ``kind="fashion"``
    gives :func:`load_fashion_mnist`.
    """
    download = download_wanted(download)
    if kind == "fashion":
        return load_fashion_mnist(data_dir, _asked_download=download)
    if kind != "mnist":
        raise ValueError(f"unknown kind {kind!r}, expected 'mnist' or 'fashion'")
    folder = resolve_data_dir(data_dir) / "mnist"
    hashes = mnist_sha256()
    missing = [name for name in IDX_FILES.values() if not (folder / name).is_file()]
    if missing and not download:
        raise DataNotFoundError(
            f"MNIST not found: {folder} lacks {', '.join(missing)}. Download it with "
            f"load_mnist(download=True) (CLI: --download), point {ENV_DATA} or data_dir at a "
            f"directory holding mnist/, or fetch the files from {MNIST_MIRRORS[0]}"
        )
    if missing:
        _download_idx_files(
            folder, missing, hashes, base_urls(url, ENV_MNIST_URL, MNIST_MIRRORS), progress
        )
    recompressed = []
    for name in IDX_FILES.values():
        try:
            verify_file(
                folder / name,
                hashes[name],
                how_to_fix=f"Delete it and call load_mnist(download=True) (CLI: --download) "
                f"to fetch it again, or download {MNIST_MIRRORS[0]}{name}",
            )
        except ChecksumError as e:
            try:  # same content, other compression? or another dataset's file?
                digest = _idx_sha256(read_idx(folder / name))
            except DataFormatError:
                raise e from None
            if _identify(name, digest) is None:
                raise
            recompressed.append(name)
    arrays, digests = _read_idx_set(folder)
    if recompressed:
        _check_content(folder, {n: digests[n] for n in recompressed}, "mnist")
    return Dataset(name="mnist", source=str(folder), classes=MNIST_CLASSES, **arrays)


def load_fashion_mnist(
    data_dir: str | os.PathLike | None = None, *, _asked_download: bool = False
) -> Dataset:
    """Fashion-MNIST (Zalando), shapes and dtypes as :func:`load_mnist`, 10 clothing classes.

    Looks for the four IDX .gz files in ``data_dir`` itself, then in
    ``<data dir>/fashion-mnist/``, then in ``$MLSANDBOX_FASHION_MNIST_DIR`` or else
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``); the first
    folder holding all four is read.  Debian re-compressed the files, so they are checked
    by parsing (headers, shapes 60000/10000 x 28 x 28, labels 0..9) and by the sha256 of
    their uncompressed content; MNIST's files (same names) are refused by name.
    """
    candidates = [Path(data_dir)] if data_dir not in (None, "") else []
    candidates.append(resolve_data_dir(data_dir) / "fashion-mnist")
    candidates.append(Path(os.environ.get(ENV_FASHION_DIR) or FASHION_MNIST_SYSTEM_DIR))
    for folder in candidates:
        if all((folder / name).is_file() for name in IDX_FILES.values()):
            arrays, digests = _read_idx_set(folder)
            _check_content(folder, digests, "fashion_mnist")
            return Dataset(
                name="fashion_mnist", source=str(folder), classes=FASHION_MNIST_CLASSES, **arrays
            )
    note = " (download=True is not supported for Fashion-MNIST)" if _asked_download else ""
    raise DataNotFoundError(
        f"Fashion-MNIST not found{note}: looked for {', '.join(IDX_FILES.values())} in "
        f"{', '.join(map(str, candidates))}. Install it with `sudo apt-get install "
        f"dataset-fashion-mnist` (it puts them in {FASHION_MNIST_SYSTEM_DIR}), or pass "
        f"data_dir= a directory that holds them"
    )


def _read_idx_set(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read the four IDX files of ``folder``, checking dtype uint8, shapes and labels 0..9.

    Returns the arrays by :class:`Dataset` field and the uncompressed sha256 by file name.
    """
    out, digests = {}, {}
    for key, name in IDX_FILES.items():
        path = folder / name
        array = read_idx(path)
        want = _IDX_SHAPES[key]
        if array.dtype != np.uint8 or array.shape != want:
            raise DataFormatError(
                f"{path}: found {array.dtype} array of shape {array.shape}, "
                f"expected uint8 of shape {want}"
            )
        digests[name] = _idx_sha256(array)
        if key.startswith("y"):
            if array.max() > 9:
                raise DataFormatError(f"{path}: found label {array.max()}, expected labels 0..9")
            array = array.astype(np.int64)
        out[key] = array
    return out, digests


def _download_idx_files(
    folder: Path, names: list[str], hashes: dict[str, str], bases: list[str], progress: bool
) -> None:
    """Fetch ``names`` into ``folder``, all or nothing, trying each base URL in turn."""
    errors = []
    for base in bases:
        try:
            with staging_dir(folder) as tmp:
                for name in names:
                    sources.download(base + name, tmp / name, hashes[name], progress)
                for name in names:
                    os.replace(tmp / name, folder / name)
            return
        except (DownloadError, ChecksumError) as e:
            errors.append(e)
    if len(errors) == 1:
        raise errors[0]
    raise DownloadError("MNIST download failed from every mirror: " + " | ".join(map(str, errors)))


# ------------------------------------------------------------- shipped with scikit-learn


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits (UCI), embedded in sklearn: no download, no files.

    x_train ``(1437, 8, 8)`` and x_test ``(360, 8, 8)`` uint8 with the original values
    0..16 (scale 16), y int64 0..9.  The split is stratified and deterministic
    (``train_test_split(test_size=360, stratify=y, random_state=0)``).
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = bunch.images.astype(np.uint8)
    y = bunch.target.astype(np.int64)
    train, test = train_test_split(np.arange(len(y)), test_size=360, stratify=y, random_state=0)
    return Dataset(
        x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test],
        name="digits", source="sklearn.datasets.load_digits",
        classes=[str(c) for c in bunch.target_names], scale=16.0,
    )  # fmt: skip


def load_breast_cancer() -> Dataset:
    """scikit-learn's Wisconsin breast cancer table, embedded in sklearn.

    Not split: x_train is all ``(569, 30)`` float64 raw features (scale 1: standardize
    them yourself), y_train ``(569,)`` int64 (0 malignant, 1 benign); x_test is
    ``(0, 30)`` and y_test ``(0,)``.  ``feature_names`` names the 30 columns.
    """
    from sklearn.datasets import load_breast_cancer as sk_load_breast_cancer

    bunch = sk_load_breast_cancer()
    x = np.ascontiguousarray(bunch.data, dtype=np.float64)
    return Dataset(
        x_train=x, y_train=bunch.target.astype(np.int64),
        x_test=np.empty((0, x.shape[1])), y_test=np.empty((0,), np.int64),
        name="breast_cancer", source="sklearn.datasets.load_breast_cancer",
        classes=list(bunch.target_names), scale=1.0, feature_names=list(bunch.feature_names),
    )  # fmt: skip
