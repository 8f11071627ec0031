"""Photos in the ImageFolder layout ``<root>/<split>/<class>/<image>``, and pizza_steak_sushi.

Images are decoded with Pillow, converted to RGB and resized to ``size x size`` with
``Image.resize(..., BILINEAR)`` (Pillow widens the filter when shrinking, so this
antialiases); EXIF orientation is not applied, as in torchvision's ImageFolder.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from . import sources
from .datasets import Dataset
from .errors import DataFormatError, DataNotFoundError
from .integrity import packaged_listing, verify_tree
from .sources import (
    ENV_DATA,
    ENV_PIZZA_URL,
    PIZZA_STEAK_SUSHI_URL,
    download_wanted,
    resolve_data_dir,
    staging_dir,
)

_PROGRESS_MIN_FILES = 64  # show a decoding progress bar from this many files on


class ImageFolderData(NamedTuple):
    """One split of an image folder.

    images ``(n, size, size, 3)`` uint8 NHWC; labels ``(n,)`` int64 indexing ``classes``
    (the sorted class folder names); paths: the ``n`` files, sorted by class then name.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    paths: list[str]


def load_image_folder(
    root: str | os.PathLike, size: int = 64, split: str = "train", progress: bool = True
) -> ImageFolderData:
    """Decode every image of ``<root>/<split>/<class>/`` into one uint8 array.

    Classes are the sorted names of the sub-folders of ``<root>/<split>``; every
    non-hidden file inside them must be an image Pillow can read, else a
    :class:`DataFormatError` names the file.  A class folder without images is refused
    (as torchvision's ImageFolder does), naming the folder: kept, it would be a class
    with no examples and shift the ids of the classes after it.  Order is deterministic
    (sorted), so equal folders give equal arrays.
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (pixels per side), got {size!r}")
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        have = (
            sorted(p.name for p in Path(root).iterdir() if p.is_dir())
            if Path(root).is_dir()
            else []
        )
        raise DataNotFoundError(
            f"{split_dir}: no such directory; expected the layout <root>/<split>/<class>/<image>"
            + (f" (splits found: {', '.join(have)})" if have else "")
        )
    classes = sorted(
        p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(
            p for p in (split_dir / name).iterdir() if p.is_file() and not p.name.startswith(".")
        )
        if not files:
            raise DataFormatError(
                f"{split_dir / name}: no images found in class folder {name!r}; every class "
                f"folder of <root>/{split}/<class>/ needs at least one image (an empty one "
                f"would shift the ids of the classes after it): remove it or add images"
            )
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataFormatError(
            f"{split_dir}: no images found; expected class folders holding image files "
            f"(<root>/{split}/<class>/<image>)"
        )
    bar = dict(total=len(paths), desc=f"decoding {split_dir.name}", unit="img")
    bar["disable"] = None if progress and len(paths) >= _PROGRESS_MIN_FILES else True
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:  # Pillow releases the GIL
        decoded = list(tqdm(pool.map(lambda p: _decode(p, size), paths), **bar))
    return ImageFolderData(
        images=np.stack(decoded), labels=np.asarray(labels, np.int64),
        classes=classes, paths=[str(p) for p in paths],
    )  # fmt: skip


def _decode(path: Path, size: int) -> np.ndarray:
    """One image as ``(size, size, 3)`` uint8 RGB."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        # UnidentifiedImageError and "image file is truncated" are OSErrors
        raise DataFormatError(
            f"{path}: not a readable image ({type(e).__name__}: {e}); expected a JPEG/PNG/... file"
        ) from e


# ------------------------------------------------------------------ pizza_steak_sushi


def pizza_steak_sushi_sha256() -> dict[str, str]:
    """The 300 files of pizza_steak_sushi, ``{"train/pizza/<id>.jpg": sha256}``."""
    return packaged_listing("pizza_steak_sushi")


def load_pizza_steak_sushi(
    data_dir: str | os.PathLike | None = None,
    size: int = 64,
    download: bool | None = None,
    url: str | None = None,
    progress: bool = True,
) -> Dataset:
    """The 3-class Food-101 subset of the PyTorch course, from ``<data_dir>/pizza_steak_sushi/``.

    Returns x_train ``(225, size, size, 3)`` uint8, y_train ``(225,)`` int64, x_test
    ``(75, size, size, 3)``, y_test ``(75,)``, classes ``["pizza", "steak", "sushi"]``,
    scale 255.  The folder is first checked strictly against the published listing:
    every one of the 300 files present with its sha256, and nothing else (no extra
    image, class folder or hidden file), so the arrays are always the published set.

    ``download=True`` fetches the course's zip (``url``, else
    ``$MLSANDBOX_PIZZA_STEAK_SUSHI_URL``, else :data:`PIZZA_STEAK_SUSHI_URL`) when the
    folder is absent, extracts it safely and checks it the same way before moving the
    folder into place; ``None`` follows :func:`~mlsandbox.data.sources.downloads_allowed`.
    """
    download = download_wanted(download)
    folder = resolve_data_dir(data_dir) / "pizza_steak_sushi"
    listing = pizza_steak_sushi_sha256()
    if not folder.exists():
        if not download:
            raise DataNotFoundError(
                f"pizza_steak_sushi not found: no folder {folder}. Download it with "
                f"load_pizza_steak_sushi(download=True) (CLI: --download), or point {ENV_DATA} "
                f"or data_dir at a directory holding pizza_steak_sushi/"
            )
        _download_pizza_steak_sushi(
            folder, url or os.environ.get(ENV_PIZZA_URL) or PIZZA_STEAK_SUSHI_URL, listing, progress
        )
    verify_tree(
        folder, listing, strict=True,
        how_to_fix=f"Move files the listing does not name out of {folder}, or delete it and "
        f"call load_pizza_steak_sushi(download=True) (CLI: --download), or get "
        f"{PIZZA_STEAK_SUSHI_URL}",
    )  # fmt: skip
    train = load_image_folder(folder, size, "train", progress)
    test = load_image_folder(folder, size, "test", progress)
    if train.classes != test.classes:
        raise DataFormatError(
            f"{folder}: train classes {train.classes} differ from test classes {test.classes}"
        )
    return Dataset(
        x_train=train.images, y_train=train.labels, x_test=test.images, y_test=test.labels,
        name="pizza_steak_sushi", source=str(folder), classes=train.classes,
    )  # fmt: skip


def _download_pizza_steak_sushi(
    folder: Path, url: str, listing: dict[str, str], progress: bool
) -> None:
    """Download the zip, extract it safely, verify every file, then rename into ``folder``."""
    with staging_dir(folder.parent) as tmp:
        archive = tmp / "pizza_steak_sushi.zip"
        sources.download(url, archive, sha256=None, progress=progress)  # zip's sha256 unknown
        extracted = tmp / "extracted"
        extracted.mkdir()
        sources.safe_extract_zip(archive, extracted)
        root = extracted
        entries = list(extracted.iterdir())
        if not (extracted / "train").is_dir() and len(entries) == 1 and entries[0].is_dir():
            root = entries[0]  # the zip wrapped everything in one top folder
        verify_tree(
            root,
            listing,
            strict=True,
            how_to_fix=f"The archive at {url} is not the expected one; nothing was saved",
        )
        os.replace(root, folder)
