"""Data loaders: real datasets in their published formats, checked by sha256.

Public API::

    load_mnist(data_dir=None, download=False, kind="mnist" | "fashion", url=None) -> Dataset
    load_fashion_mnist(data_dir=None) -> Dataset
    load_digits() -> Dataset            # sklearn, 1437/360 stratified split, values 0..16
    load_breast_cancer() -> Dataset     # sklearn, (569, 30) float64 all in train, empty test
    load_pizza_steak_sushi(data_dir=None, size=64, download=False, url=None) -> Dataset
    load_image_folder(root, size=64, split="train")
        -> ImageFolderData(images, labels, classes, paths)
    as_features(x, dtype="float32", scale=255.0) -> (n, features) array in [0, 1]
    read_idx(path) -> np.ndarray        # raw or .gz IDX file

Data directory: the ``data_dir`` argument, else ``$MLSANDBOX_DATA``, else the user cache
(``pooch.os_cache("mlsandbox")``); datasets live in ``<data_dir>/mnist/`` and
``<data_dir>/pizza_steak_sushi/``.  Other environment variables:
``MLSANDBOX_MNIST_URL`` (base URL of the four MNIST files),
``MLSANDBOX_PIZZA_STEAK_SUSHI_URL`` (URL of the zip) and
``MLSANDBOX_FASHION_MNIST_DIR`` (instead of /usr/share/datasets/fashion-mnist).
Errors are :class:`DataError` subclasses (see :mod:`mlsandbox.data.errors`).
"""

from .datasets import (
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    Dataset,
    as_features,
    load_breast_cancer,
    load_digits,
    load_fashion_mnist,
    load_mnist,
)
from .errors import (
    ChecksumError,
    DataError,
    DataFormatError,
    DataNotFoundError,
    DownloadError,
    UnsafeArchiveError,
)
from .idx import read_idx, read_idx_header
from .images import ImageFolderData, load_image_folder, load_pizza_steak_sushi
from .sources import resolve_data_dir

__all__ = [
    "Dataset",
    "ImageFolderData",
    "load_mnist",
    "load_fashion_mnist",
    "load_digits",
    "load_breast_cancer",
    "load_pizza_steak_sushi",
    "load_image_folder",
    "as_features",
    "read_idx",
    "read_idx_header",
    "resolve_data_dir",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "DataError",
    "DataFormatError",
    "ChecksumError",
    "DataNotFoundError",
    "DownloadError",
    "UnsafeArchiveError",
]
