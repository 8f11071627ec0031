"""Sentiment text datasets: IMDB reviews, Rotten Tomatoes snippets, and a corpus that ships.

>>> from mlsandbox.data import load_imdb, load_text_corpus
>>> ds = load_text_corpus()                  # no files needed: it is inside the package
>>> ds.classes, len(ds.train.texts), len(ds.test.texts), ds.train.labels[:3].tolist()
(['neg', 'pos'], 240, 60, [0, 0, 0])
>>> imdb = load_imdb(split="train", per_class=100)  # doctest: +SKIP
>>> imdb.texts[0][:40], int(imdb.labels[0]), int(imdb.ratings[0]), int(imdb.ids[0])  # doctest: +SKIP
("Story of a man who has unnatural feelings", 0, 3, 0)

Every loader returns texts (``str``), labels (int64, 0 = negative, 1 = positive), the
dataset's ids (and IMDB's 1-10 star ratings) in a fixed order: negatives first, then
positives, each by id.  A split is a :class:`TextSplit`; both splits together a
:class:`TextDataset` (``x_train``/``y_train``/``x_test``/``y_test`` as in
:class:`~mlsandbox.data.Dataset`).

**IMDB** (Maas et al. 2011), ``<data_dir>/aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt``
(UTF-8, 12,500 per folder, ids 0..12499, ratings 1-4 negative and 7-10 positive), the
layout of the published archive.  ``data_dir`` as everywhere in :mod:`mlsandbox.data`
(argument, else ``$MLSANDBOX_DATA``, else the user cache).  ``download=True`` fetches
:data:`IMDB_URL` (84 MB; ``url`` or ``$MLSANDBOX_IMDB_URL`` override it) when the folder
is absent, checks the archive's published sha256 (:data:`IMDB_SHA256`), extracts only the
labeled reviews (and the README) with :func:`safe_extract_tar` and checks them before
moving the folder into place.  Checks on every load (``verify=True``): file names, counts,
ids and ratings, and -- when whole folders are read -- the sha256 of each folder's
``sha256sum`` listing against ``checksums/aclImdb-folders.sha256`` (one digest per
folder: ``grep '  train/neg/' aclImdb.sha256 | sha256sum`` of the per-file listing in
``shared/data/checksums``).  ``per_class=n`` reads only the ``n`` lowest ids of each
class (checked for layout, not hashed): a fast subset for tests.  A full read of the
50,000 files takes about 1 s with a warm disk cache.

**Rotten Tomatoes** sentence polarity v1.0 (Pang & Lee 2005),
``<data_dir>/rt-polaritydata/rt-polarity.{neg,pos}``: 5,331 snippets per class, one per
line, Windows-1252 encoded (decoded with ``cp1252``; surrounding whitespace stripped).
Both files are checked against their published sha256.  There is no official split;
ours is deterministic and balanced: line ``i`` (0-based) of each file is a test snippet
when ``i % n_folds == test_fold`` (default: every tenth line from line 9, 533 per class;
4,798 per class train).  ``test_fold = 0..n_folds-1`` gives the usual 10-fold
cross-validation.

**The shipped corpus** (:func:`load_text_corpus`): 300 short English movie-review
sentences (150 per class) written by hand for this project, so that text studies and
tests always have data; 240/60 train/test.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np

from . import sources
from .errors import ChecksumError, DataFormatError, DataNotFoundError, UnsafeArchiveError
from .integrity import packaged_listing, verify_tree
from .sources import ENV_DATA, download_wanted, resolve_data_dir, staging_dir

ENV_IMDB_URL = "MLSANDBOX_IMDB_URL"
#: The archive the dataset's authors publish (labeled train/test, unlabeled, bag-of-words).
IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
#: sha256 of aclImdb_v1.tar.gz, as several independent loaders pin it (Julia's
#: MLDatasets, Rust and Go loaders); its md5 is 7c2ac02c03563afcf9b574c7e56c153a.
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
#: Where the Rotten Tomatoes files come from (not downloaded here).
RT_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"

CLASSES = ["neg", "pos"]
IMDB_FOLDERS = ("train/neg", "train/pos", "test/neg", "test/pos")
IMDB_PER_FOLDER = 12_500
_RATINGS = {"neg": range(1, 5), "pos": range(7, 11)}
_REVIEW = re.compile(r"(\d+)_(\d+)\.txt")
#: archive members extracted by the download: the labeled reviews and the README
_IMDB_MEMBER = re.compile(r"aclImdb/(?:(?:train|test)/(?:neg|pos)/\d+_\d+\.txt|README)")
_CORPUS = "text/corpora/sentiment_en.tsv"


class TextSplit(NamedTuple):
    """One split: ``texts`` (n str), ``labels`` (n,) int64 0/1, ``ids`` (n,) int64 (the
    dataset's review or line ids), ``ratings`` (n,) int64 stars 1-10 (IMDB) or None."""

    texts: list[str]
    labels: np.ndarray
    ids: np.ndarray
    ratings: np.ndarray | None = None

    def __repr__(self) -> str:
        counts = np.bincount(self.labels, minlength=2).tolist() if len(self.labels) else [0, 0]
        return f"TextSplit({len(self.texts)} texts, neg/pos {counts[0]}/{counts[1]})"


@dataclass(frozen=True, eq=False)
class TextDataset:
    """A labeled text dataset: ``train`` and ``test`` :class:`TextSplit`, classes neg/pos."""

    train: TextSplit
    test: TextSplit
    name: str
    source: str
    classes: list[str]

    x_train = property(lambda self: self.train.texts)
    y_train = property(lambda self: self.train.labels)
    x_test = property(lambda self: self.test.texts)
    y_test = property(lambda self: self.test.labels)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (f"TextDataset({self.name!r}, train {self.train!r}, test {self.test!r}, "
                f"source={self.source!r})")


# ------------------------------------------------------------------------------- IMDB


def imdb_folder_sha256() -> dict[str, str]:
    """``{"train/neg": digest, ...}``: sha256 of each folder's ``sha256sum`` listing."""
    return {k.rstrip("/"): v for k, v in packaged_listing("aclImdb-folders").items()}


def load_imdb(
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    url: str | None = None,
    split: str = "all",
    *,
    per_class: int | None = None,
    sha256: str | None = IMDB_SHA256,
    verify: bool = True,
    progress: bool = True,
) -> TextDataset | TextSplit:
    """The IMDB Large Movie Review dataset (labeled part) from ``<data_dir>/aclImdb/``.

    ``split``: ``"train"`` or ``"test"`` (a :class:`TextSplit` of 25,000 reviews) or
    ``"all"`` (a :class:`TextDataset`).  ``per_class``: read only that many reviews of
    each class per split (the lowest ids).  ``download``/``url``/``sha256``: fetch the
    archive when the folder is absent (``sha256`` of the archive; pass the one of your
    own archive with ``url``, ``None`` to skip the check); ``download=None`` follows
    :func:`~mlsandbox.data.sources.downloads_allowed` (the CLI's ``--download``).
    ``verify``: check the layout
    and, for whole folders, the sha256 digests (see the module docstring).

    Raises :class:`DataNotFoundError` (no folder; the message says how to get it),
    :class:`DataFormatError` (missing, extra or misnamed files, bad UTF-8) or
    :class:`ChecksumError` (a file's bytes differ from the published ones).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"unknown split {split!r}, expected 'train', 'test' or 'all'")
    if per_class is not None and (not isinstance(per_class, (int, np.integer))
                                  or not 1 <= per_class <= IMDB_PER_FOLDER):
        raise ValueError(f"per_class must be None or an int in [1, {IMDB_PER_FOLDER}], "
                         f"got {per_class!r}")
    root = resolve_data_dir(data_dir) / "aclImdb"
    if not root.exists():
        if not download_wanted(download):
            raise DataNotFoundError(
                f"IMDB not found: no folder {root} (expected the published layout "
                f"{root}/{{train,test}}/{{neg,pos}}/<id>_<rating>.txt). Download it with "
                f"load_imdb(download=True) (84 MB from {IMDB_URL}), or point {ENV_DATA} or "
                f"data_dir at a directory holding aclImdb/")
        _download_imdb(root, url or os.environ.get(ENV_IMDB_URL) or IMDB_URL, sha256,
                       verify, progress)
    fix = (f"Delete {root} and call load_imdb(download=True), or get {IMDB_URL} "
           f"and extract it into {root.parent}")
    splits = {}
    for name in ("train", "test") if split == "all" else (split,):
        parts = [_read_imdb_folder(root, f"{name}/{c}", per_class, verify, fix) for c in CLASSES]
        splits[name] = TextSplit(
            texts=parts[0][0] + parts[1][0],
            labels=np.repeat(np.arange(2, dtype=np.int64), [len(parts[0][0]), len(parts[1][0])]),
            ids=np.concatenate([parts[0][1], parts[1][1]]),
            ratings=np.concatenate([parts[0][2], parts[1][2]]),
        )
    if split != "all":
        return splits[split]
    return TextDataset(train=splits["train"], test=splits["test"], name="imdb",
                       source=str(root), classes=list(CLASSES))


def _read_imdb_folder(root: Path, rel: str, per_class: int | None, verify: bool, fix: str
                      ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(texts, ids, ratings)`` of ``root/rel`` by id; checks as ``load_imdb`` says."""
    folder = root / rel
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: no such folder: the IMDB copy in {root} is "
                              f"incomplete (expected {', '.join(IMDB_FOLDERS)}). {fix}")
    names, ids, ratings = [], [], []
    for entry in os.scandir(folder):
        if entry.name.startswith("."):
            continue
        m = _REVIEW.fullmatch(entry.name)
        if m is None:
            if verify:
                raise DataFormatError(f"{folder / entry.name}: unexpected file; expected only "
                                      f"reviews named <id>_<rating>.txt. {fix}")
            continue
        names.append(entry.name)
        ids.append(int(m.group(1)))
        ratings.append(int(m.group(2)))
    ids_a, ratings_a = np.array(ids, np.int64), np.array(ratings, np.int64)
    if verify:
        _check_layout(folder, rel, ids_a, ratings_a, fix)
    order = np.argsort(ids_a, kind="stable")
    if per_class is not None:
        order = order[:per_class]
    whole = len(order) == len(names)
    texts, hashes = [], []
    base = str(folder)
    for i in order.tolist():
        path = os.path.join(base, names[i])
        with open(path, "rb") as f:
            raw = f.read()
        if verify and whole:
            hashes.append(hashlib.sha256(raw).hexdigest())
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise DataFormatError(f"{path}: not UTF-8 text ({e}). {fix}") from e
    if verify and whole:
        by_name = sorted(zip((names[i] for i in order.tolist()), hashes))
        listing = "".join(f"{h}  {rel}/{n}\n" for n, h in by_name)
        got = hashlib.sha256(listing.encode()).hexdigest()
        want = imdb_folder_sha256()[rel]
        if got != want:
            raise ChecksumError(
                f"{folder}: the {len(names):,} reviews are not the published ones: the sha256 "
                f"of their sha256sum listing is {got}, expected {want} (a file is corrupt or "
                f"was edited; `sha256sum -c` against the per-file listing names it). {fix}")
    return texts, ids_a[order], ratings_a[order]


def _check_layout(folder: Path, rel: str, ids: np.ndarray, ratings: np.ndarray, fix: str):
    label = rel.split("/")[1]
    problems = []
    if len(ids) != IMDB_PER_FOLDER or not np.array_equal(np.sort(ids),
                                                         np.arange(IMDB_PER_FOLDER)):
        have = set(ids.tolist())
        missing = [i for i in range(IMDB_PER_FOLDER) if i not in have]
        problems.append(f"{len(ids):,} reviews, expected {IMDB_PER_FOLDER:,} with ids 0.."
                        f"{IMDB_PER_FOLDER - 1}" + (f" (missing ids {missing[:5]}"
                                                    f"{' ...' if len(missing) > 5 else ''})"
                                                    if missing else " (ids repeated)"))
    lo, hi = _RATINGS[label][0], _RATINGS[label][-1]
    bad = ratings[(ratings < lo) | (ratings > hi)]
    if bad.size:
        problems.append(f"rating {int(bad[0])} in a '{label}' folder (expected {lo}-{hi})")
    if problems:
        raise DataFormatError(f"{folder}: " + "; ".join(problems) + f". {fix}")


def _download_imdb(root: Path, url: str, sha256: str | None, verify: bool, progress: bool):
    """Download the archive, extract the labeled reviews safely, check, rename into ``root``."""
    with staging_dir(root.parent) as tmp:
        archive = tmp / "aclImdb_v1.tar.gz"
        sources.download(url, archive, sha256=sha256, progress=progress)
        extracted = tmp / "extracted"
        extracted.mkdir()
        n = safe_extract_tar(archive, extracted,
                             keep=lambda name: bool(_IMDB_MEMBER.fullmatch(name)))
        top = extracted / "aclImdb"
        if n == 0 or not top.is_dir():
            raise DataFormatError(
                f"{url}: the archive holds no IMDB reviews (expected members "
                f"aclImdb/{{train,test}}/{{neg,pos}}/<id>_<rating>.txt); nothing was saved")
        if verify:
            why = f"The archive at {url} is not the published one; nothing was saved"
            for rel in IMDB_FOLDERS:
                _read_imdb_folder(top, rel, None, True, why)
        os.replace(top, root)


# ------------------------------------------------------------------------- tar archives


def safe_extract_tar(archive: str | os.PathLike, target: str | os.PathLike, *, keep=None,
                     max_bytes: int = 4 << 30) -> int:
    """Extract the regular files of a tar archive (any compression) into ``target``.

    Every member is checked, also those not extracted: absolute paths, drive letters,
    ``..`` components, symbolic and hard links, devices and FIFOs raise
    :class:`UnsafeArchiveError`.  Only members whose name (``/``-separated, relative)
    satisfies ``keep(name)`` are written (all when ``keep`` is None), each through a
    new file (``"xb"``: a member written twice is an error); directories are created
    as needed.  More than ``max_bytes`` to write, or a corrupt archive, raise
    :class:`DataFormatError`.  Extract into a staging directory (a failure can leave
    part of the files).  Returns the number of files written.
    """
    archive, target = Path(archive), Path(target)
    root = target.resolve()
    written = total = 0
    try:
        with tarfile.open(archive, mode="r:*") as tf:   # "r|*" can end silently on bad gzip
            for member in tf:
                rel = _tar_member_path(member, archive)
                if member.isdir() or (keep is not None and not keep(rel.as_posix())):
                    continue
                total += member.size
                if total > max_bytes:
                    raise DataFormatError(f"{archive}: would extract more than the limit of "
                                          f"{max_bytes:,} bytes")
                dest = target.joinpath(*rel.parts)
                if os.path.commonpath([root, dest.resolve()]) != str(root):   # belt and braces
                    raise UnsafeArchiveError(f"{archive}: member {member.name!r} escapes {target}")
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(member)
                with open(dest, "xb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                written += 1
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise DataFormatError(f"{archive}: corrupt or unreadable tar archive ({e})") from e
    except FileExistsError as e:
        raise DataFormatError(f"{archive}: member written twice: {e.filename}") from e
    except OSError as e:   # gzip.BadGzipFile among them
        raise DataFormatError(f"{archive}: cannot extract ({type(e).__name__}: {e})") from e
    return written


def _tar_member_path(member: tarfile.TarInfo, archive: Path) -> PurePosixPath:
    """The member's relative path, or :class:`UnsafeArchiveError` if it is unsafe."""
    name = member.name.replace("\\", "/")
    why = None
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        why = "is an absolute path"
    elif ".." in name.split("/"):
        why = "contains '..'"
    elif member.issym() or member.islnk():
        why = f"is a {'symbolic' if member.issym() else 'hard'} link (to {member.linkname!r})"
    elif not (member.isreg() or member.isdir()):
        why = "is a device, FIFO or other special file"
    rel = PurePosixPath(*[p for p in name.split("/") if p not in ("", ".")])
    if why is None and not rel.parts and not member.isdir():
        why = "has an empty name"
    if why:
        raise UnsafeArchiveError(
            f"{archive}: refusing to extract member {member.name!r}: it {why}; expected "
            "relative paths of plain files inside the target directory")
    return rel


# -------------------------------------------------------------------- Rotten Tomatoes


def load_rotten_tomatoes(data_dir: str | os.PathLike | None = None, *, test_fold: int = 9,
                         n_folds: int = 10) -> TextDataset:
    """Rotten Tomatoes sentence polarity v1.0 from ``<data_dir>/rt-polaritydata/``.

    Train/test: line ``i`` of each file is a test snippet iff ``i % n_folds == test_fold``
    (module docstring).  ``ids`` are the 0-based line numbers; ``ratings`` is None.
    """
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"n_folds must be an int >= 2, got {n_folds!r}")
    if not isinstance(test_fold, (int, np.integer)) or not 0 <= test_fold < n_folds:
        raise ValueError(f"test_fold must be an int in [0, {n_folds}), got {test_fold!r}")
    folder = resolve_data_dir(data_dir) / "rt-polaritydata"
    if not folder.is_dir():
        raise DataNotFoundError(
            f"Rotten Tomatoes not found: no folder {folder} (expected rt-polarity.neg and "
            f"rt-polarity.pos). Get {RT_URL} and extract it into {folder.parent}, or point "
            f"{ENV_DATA} or data_dir at a directory holding rt-polaritydata/")
    verify_tree(folder, packaged_listing("rt-polaritydata"),
                how_to_fix=f"Replace the files with those of {RT_URL} (sentence polarity v1.0)")
    parts = {"train": ([], [], []), "test": ([], [], [])}
    for label, name in enumerate(CLASSES):
        raw = (folder / f"rt-polarity.{name}").read_bytes()
        lines = raw.decode("cp1252").split("\n")   # only LF ends a line (not U+0085 etc.)
        if lines and lines[-1] == "":
            lines.pop()
        for i, line in enumerate(lines):
            texts, labels, ids = parts["test" if i % n_folds == test_fold else "train"]
            texts.append(line.strip())
            labels.append(label)
            ids.append(i)
    split = {k: TextSplit(t, np.array(y, np.int64), np.array(i, np.int64))
             for k, (t, y, i) in parts.items()}
    return TextDataset(train=split["train"], test=split["test"], name="rotten_tomatoes",
                       source=str(folder), classes=list(CLASSES))


# ------------------------------------------------------------------ shipped corpus


def load_text_corpus(test_every: int = 5) -> TextDataset:
    """The original, hand-written English sentiment corpus that ships in the package.

    300 short movie-review sentences written for ML Sandbox (not taken from any dataset),
    150 negative and 150 positive, in ``mlsandbox/text/corpora/sentiment_en.tsv``
    (``<neg|pos><TAB><sentence>`` per line, UTF-8).  Sentence ``i`` of each class (0-based,
    file order) is a test sentence iff ``i % test_every == test_every - 1``: 240 train, 60
    test by default.  ``ids`` number the sentences within their class.
    """
    if not isinstance(test_every, (int, np.integer)) or test_every < 2:
        raise ValueError(f"test_every must be an int >= 2, got {test_every!r}")
    path = resources.files("mlsandbox").joinpath(_CORPUS)
    by_class: dict[str, list[str]] = {c: [] for c in CLASSES}
    for lineno, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, sep, text = line.partition("\t")
        if not sep or label not in by_class or not text.strip():
            raise DataFormatError(f"{path}, line {lineno}: expected '<neg|pos><TAB><text>', "
                                  f"got {line!r:.60}")
        by_class[label].append(text.strip())
    parts = {"train": ([], [], []), "test": ([], [], [])}
    for label, name in enumerate(CLASSES):
        for i, text in enumerate(by_class[name]):
            texts, labels, ids = parts["test" if i % test_every == test_every - 1 else "train"]
            texts.append(text)
            labels.append(label)
            ids.append(i)
    split = {k: TextSplit(t, np.array(y, np.int64), np.array(i, np.int64))
             for k, (t, y, i) in parts.items()}
    return TextDataset(train=split["train"], test=split["test"], name="sentiment_en",
                       source=str(path), classes=list(CLASSES))
