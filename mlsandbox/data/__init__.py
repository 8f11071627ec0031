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
    load_imdb(data_dir=None, download=False, url=None, split="all", per_class=None)
        -> TextDataset (train, test: TextSplit(texts, labels, ids, ratings)) | TextSplit
    load_rotten_tomatoes(data_dir=None, test_fold=9, n_folds=10) -> TextDataset
    load_text_corpus() -> TextDataset   # 300 hand-written sentences shipped in the package

Data directory: the ``data_dir`` argument, else ``$MLSANDBOX_DATA``, else the user cache
(``pooch.os_cache("mlsandbox")``); datasets live in ``<data_dir>/mnist/``,
``<data_dir>/pizza_steak_sushi/``, ``<data_dir>/aclImdb/`` and ``<data_dir>/rt-polaritydata/``.  Other environment variables:
``MLSANDBOX_MNIST_URL`` (base URL of the four MNIST files),
``MLSANDBOX_PIZZA_STEAK_SUSHI_URL`` (URL of the zip), ``MLSANDBOX_IMDB_URL`` (URL of
the IMDB tar.gz) and
``MLSANDBOX_FASHION_MNIST_DIR`` (instead of /usr/share/datasets/fashion-mnist).
Errors are :class:`DataError` subclasses (see :mod:`mlsandbox.data.errors`).
The loaders' ``download`` defaults to ``None``: download only inside
``with downloads_allowed():`` (what the CLI's ``--download`` does).  A download has an
overall deadline (``$MLSANDBOX_DOWNLOAD_DEADLINE`` seconds, default 300).
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
from .text import (
    TextDataset,
    TextSplit,
    load_imdb,
    load_rotten_tomatoes,
    load_text_corpus,
    safe_extract_tar,
)
from .sources import downloads_allowed

__all__ = [
    "Dataset",
    "ImageFolderData",
    "load_mnist",
    "load_fashion_mnist",
    "load_digits",
    "load_breast_cancer",
    "load_pizza_steak_sushi",
    "load_image_folder",
    "load_imdb",
    "load_rotten_tomatoes",
    "load_text_corpus",
    "TextDataset",
    "TextSplit",
    "safe_extract_tar",
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
__all__ += ["downloads_allowed"]
