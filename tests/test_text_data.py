"""Text datasets: IMDB (read, checked, downloaded from 127.0.0.1), Rotten Tomatoes, the
shipped corpus; safe tar extraction."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

import mlsandbox.data as data
from mlsandbox.data import (
    ChecksumError,
    DataFormatError,
    DataNotFoundError,
    DownloadError,
    UnsafeArchiveError,
    load_imdb,
    load_rotten_tomatoes,
    load_text_corpus,
    safe_extract_tar,
)
from mlsandbox.data import text as text_data


@pytest.fixture
def slow_selected(request):
    """Skip unless slow tests were asked for (``-m slow`` or ``MLSANDBOX_SLOW=1``)."""
    if "slow" not in (request.config.getoption("markexpr") or "") and \
            not os.environ.get("MLSANDBOX_SLOW"):
        pytest.skip("slow (reads and hashes all 50,000 reviews): run with -m slow or "
                    "MLSANDBOX_SLOW=1")


def listing(folder: Path) -> list[str]:
    """Everything under ``folder`` (hidden staging directories included), or [] if absent."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) \
        if folder.exists() else []


# ------------------------------------------------------------------------------- IMDB


def test_imdb_subset_order_and_fields(shared_data):
    ds = load_imdb(shared_data, per_class=50)
    assert ds.name == "imdb" and ds.classes == ["neg", "pos"]
    for split in (ds.train, ds.test):
        assert len(split.texts) == 100 and split.labels.dtype == np.int64
        assert split.labels.tolist() == [0] * 50 + [1] * 50
        assert split.ids.tolist() == list(range(50)) * 2
        assert ((split.ratings[:50] <= 4) & (split.ratings[:50] >= 1)).all()
        assert ((split.ratings[50:] >= 7) & (split.ratings[50:] <= 10)).all()
    first = shared_data / "aclImdb" / "train" / "neg" / f"0_{ds.train.ratings[0]}.txt"
    assert ds.train.texts[0] == first.read_text("utf-8")
    assert ds.x_train is ds.train.texts and ds.y_test is ds.test.labels
    test = load_imdb(shared_data, split="test", per_class=3)
    assert test.texts == ds.test.texts[:3] + ds.test.texts[50:53]


@pytest.mark.slow
@pytest.mark.usefixtures("slow_selected")
def test_imdb_full_read_is_verified(shared_data):
    ds = load_imdb(shared_data)
    assert len(ds.x_train) == len(ds.x_test) == 25_000
    assert np.bincount(ds.train.ratings, minlength=11)[1:].tolist() == \
        [5100, 2284, 2420, 2696, 0, 0, 2496, 3009, 2263, 4732]   # MANIFEST.md
    assert np.bincount(ds.test.ratings, minlength=11)[1:].tolist() == \
        [5022, 2302, 2541, 2635, 0, 0, 2307, 2850, 2344, 4999]


def test_imdb_missing_folder_says_how_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"no folder .*aclImdb.*download=True.*"
                       r"MLSANDBOX_DATA or data_dir"):
        load_imdb(tmp_path)


def copy_reviews(shared_data: Path, root: Path, per_folder: int = 3,
                 folders=text_data.IMDB_FOLDERS):
    """A small aclImdb/ in ``root`` with the first reviews of each folder (real files)."""
    for rel in folders:
        src = shared_data / "aclImdb" / rel
        names = sorted(os.listdir(src), key=lambda n: int(n.split("_")[0]))[:per_folder]
        (root / "aclImdb" / rel).mkdir(parents=True)
        for n in names:
            shutil.copyfile(src / n, root / "aclImdb" / rel / n)
    return root / "aclImdb"


def test_imdb_incomplete_folder_is_refused(shared_data, tmp_path):
    copy_reviews(shared_data, tmp_path)
    with pytest.raises(DataFormatError, match=r"train/neg: 3 reviews, expected 12,500 .*missing "
                       r"ids \[3, 4, 5, 6, 7\] \.\.\..*Delete .* load_imdb\(download=True\)"):
        load_imdb(tmp_path)
    ds = load_imdb(tmp_path, verify=False)      # the layout check is what refused it
    assert len(ds.x_train) == 6 and ds.train.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_imdb_misnamed_file_and_missing_split(shared_data, tmp_path):
    root = copy_reviews(shared_data, tmp_path, folders=("train/neg", "train/pos"))
    (root / "train" / "neg" / "notes.txt").write_text("x")
    with pytest.raises(DataFormatError, match=r"notes.txt: unexpected file"):
        load_imdb(tmp_path, split="train")
    with pytest.raises(DataFormatError, match=r"test/neg: no such folder.*incomplete"):
        load_imdb(tmp_path, split="test", verify=False)


def linked_copy(shared_data: Path, root: Path) -> Path:
    """aclImdb/train as 25,000 symbolic links to the shared files (cheap, same bytes)."""
    for rel in ("train/neg", "train/pos"):
        (root / "aclImdb" / rel).mkdir(parents=True)
        src = shared_data / "aclImdb" / rel
        for n in os.listdir(src):
            os.symlink(src / n, root / "aclImdb" / rel / n)
    return root / "aclImdb"


def test_imdb_changed_review_fails_the_folder_digest(shared_data, tmp_path):
    root = linked_copy(shared_data, tmp_path)
    victim = root / "train" / "pos" / "7_7.txt"
    text = victim.read_bytes()
    victim.unlink()
    victim.write_bytes(text.replace(b"a", b"A", 1))
    want = text_data.imdb_folder_sha256()["train/pos"]
    with pytest.raises(ChecksumError, match=rf"train/pos: the 12,500 reviews are not the "
                       rf"published ones.*expected {want}"):
        load_imdb(tmp_path, split="train")
    assert len(load_imdb(tmp_path, split="train", per_class=20).texts) == 40   # not hashed


def test_imdb_bad_arguments(shared_data):
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        load_imdb(shared_data, split="valid")
    with pytest.raises(ValueError, match=r"per_class must be None or an int in \[1, 12500\]"):
        load_imdb(shared_data, per_class=0)


def test_folder_digests_are_those_of_the_shared_listing(shared_data):
    listing = (shared_data / "checksums" / "aclImdb.sha256").read_text()
    for rel, digest in text_data.imdb_folder_sha256().items():
        lines = "".join(line + "\n" for line in listing.splitlines() if f"  {rel}/" in line)
        assert hashlib.sha256(lines.encode()).hexdigest() == digest


# ------------------------------------------------------------------- IMDB download


def build_archive(shared_data: Path, tmp_path: Path, per_folder: int = 3) -> tuple[Path, str]:
    """A real aclImdb_v1.tar.gz in miniature: a few reviews per folder, README, unsup/,
    a bag-of-words file (the extra members the download must skip)."""
    src = copy_reviews(shared_data, tmp_path / "src", per_folder)
    shutil.copyfile(shared_data / "aclImdb" / "README", src / "README")
    (src / "train" / "unsup").mkdir()
    (src / "train" / "unsup" / "0_0.txt").write_text("unlabeled review")
    (src / "train" / "labeledBow.feat").write_text("0 0:1\n")
    served = tmp_path / "served"
    served.mkdir()
    archive = served / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname="aclImdb")
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def test_download_imdb_from_local_server(http_server, shared_data, tmp_path):
    archive, sha = build_archive(shared_data, tmp_path)
    url = http_server(archive.parent) + archive.name
    target = tmp_path / "cache"
    ds = load_imdb(target, download=True, url=url, sha256=sha, verify=False, progress=False)
    files = listing(target / "aclImdb")
    assert "README" in files and not any("unsup" in f or f.endswith(".feat") for f in files)
    assert len([f for f in files if f.endswith(".txt")]) == 12
    assert listing(target) == ["aclImdb"] + [f"aclImdb/{f}" for f in files]   # no leftovers
    want = load_imdb(shared_data, per_class=3)
    assert ds.x_train == want.x_train and ds.x_test == want.x_test
    np.testing.assert_array_equal(ds.train.ratings, want.train.ratings)


def test_download_via_env_url_and_downloads_allowed(http_server, shared_data, tmp_path,
                                                    monkeypatch):
    if not hasattr(data, "downloads_allowed"):
        pytest.skip("mlsandbox.data.downloads_allowed not available")
    archive, sha = build_archive(shared_data, tmp_path, per_folder=1)
    monkeypatch.setenv("MLSANDBOX_IMDB_URL", http_server(archive.parent) + archive.name)
    with pytest.raises(DataNotFoundError):
        load_imdb(tmp_path / "cache", sha256=sha, verify=False)     # download=None: not allowed
    with data.downloads_allowed():
        ds = load_imdb(tmp_path / "cache", sha256=sha, verify=False, progress=False)
    assert len(ds.x_test) == 2


def test_download_with_wrong_sha256_saves_nothing(http_server, shared_data, tmp_path):
    archive, sha = build_archive(shared_data, tmp_path, per_folder=1)
    url = http_server(archive.parent) + archive.name
    target = tmp_path / "cache"
    with pytest.raises(ChecksumError, match=rf"expected {'0' * 64}; nothing was saved"):
        load_imdb(target, download=True, url=url, sha256="0" * 64, progress=False)
    assert listing(target) == []
    with pytest.raises(ChecksumError, match=f"expected {text_data.IMDB_SHA256}"):
        load_imdb(target, download=True, url=url, progress=False)   # the published sha256
    assert listing(target) == []


def test_download_of_an_incomplete_archive_is_refused(http_server, shared_data, tmp_path):
    """With verify=True (the default) the extracted reviews are checked before moving."""
    archive, sha = build_archive(shared_data, tmp_path, per_folder=2)
    url = http_server(archive.parent) + archive.name
    with pytest.raises(DataFormatError, match=r"2 reviews, expected 12,500.*not the published "
                       r"one; nothing was saved"):
        load_imdb(tmp_path / "cache", download=True, url=url, sha256=sha, progress=False)
    assert listing(tmp_path / "cache") == []


def test_download_404(http_server, tmp_path):
    url = http_server(tmp_path) + "missing.tar.gz"
    with pytest.raises(DownloadError, match="404"):
        load_imdb(tmp_path / "cache", download=True, url=url, sha256=None, progress=False)


def test_archive_without_reviews(http_server, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "other.tar.gz", "w:gz") as tf:
        add_bytes(tf, "other/readme.txt", b"not imdb")
    url = http_server(served) + "other.tar.gz"
    with pytest.raises(DataFormatError, match="holds no IMDB reviews"):
        load_imdb(tmp_path / "cache", download=True, url=url, sha256=None, progress=False)


# ---------------------------------------------------------------------- tar safety


def add_bytes(tf: tarfile.TarFile, name: str, payload: bytes = b"x", **attrs):
    info = tarfile.TarInfo(name)
    info.size = len(payload) if attrs.get("type", tarfile.REGTYPE) == tarfile.REGTYPE else 0
    for k, v in attrs.items():
        setattr(info, k, v)
    tf.addfile(info, io.BytesIO(payload) if info.size else None)


@pytest.mark.parametrize("member, attrs, why", [
    ("/etc/evil.txt", {}, "is an absolute path"),
    ("aclImdb/../../evil.txt", {}, "contains '..'"),
    ("C:/evil.txt", {}, "is an absolute path"),
    ("aclImdb/link", dict(type=tarfile.SYMTYPE, linkname="/etc/passwd"), "is a symbolic link"),
    ("aclImdb/hard", dict(type=tarfile.LNKTYPE, linkname="aclImdb/README"), "is a hard link"),
    ("aclImdb/dev", dict(type=tarfile.CHRTYPE, devmajor=1, devminor=3), "is a device"),
    ("aclImdb/fifo", dict(type=tarfile.FIFOTYPE), "is a device, FIFO"),
])
def test_unsafe_tar_members_are_refused(tmp_path, member, attrs, why):
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        add_bytes(tf, "aclImdb/README", b"fine")
        add_bytes(tf, member, **attrs)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeArchiveError, match=f"refusing to extract member .*{why}"):
        safe_extract_tar(archive, out)
    with pytest.raises(UnsafeArchiveError):   # refused even when it would not be extracted
        safe_extract_tar(archive, tmp_path / "out2", keep=lambda name: name.endswith("README"))
    assert not (tmp_path / "evil.txt").exists()


def test_unsafe_member_in_a_download_leaves_nothing(http_server, shared_data, tmp_path):
    archive, _ = build_archive(shared_data, tmp_path, per_folder=1)
    with tarfile.open(archive, "r:gz") as src, tarfile.open(tmp_path / "bad.tar.gz", "w:gz") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m) if m.isreg() else None)
        add_bytes(dst, "aclImdb/train/pos/../../../escape.txt")
    url = http_server(tmp_path) + "bad.tar.gz"
    with pytest.raises(UnsafeArchiveError, match="contains '..'"):
        load_imdb(tmp_path / "cache", download=True, url=url, sha256=None, progress=False)
    assert listing(tmp_path / "cache") == [] and not (tmp_path / "escape.txt").exists()


def test_corrupt_tar_and_limits(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    for payload in (b"\x1f\x8b\x08" + b"garbage" * 10, b"not an archive" * 30,
                    gzip.compress(b"x" * 5000)[:-20]):
        bad.write_bytes(payload)
        with pytest.raises(DataFormatError, match="corrupt or unreadable tar archive"):
            safe_extract_tar(bad, tmp_path)
    ok = tmp_path / "ok.tar"
    with tarfile.open(ok, "w") as tf:
        add_bytes(tf, "a/b.txt", b"0123456789")
        add_bytes(tf, "a/c.txt", b"0123456789")
    with pytest.raises(DataFormatError, match="more than the limit of 15 bytes"):
        safe_extract_tar(ok, tmp_path / "x", max_bytes=15)
    assert safe_extract_tar(ok, tmp_path / "y") == 2
    assert (tmp_path / "y" / "a" / "c.txt").read_bytes() == b"0123456789"


# ------------------------------------------------------------------- Rotten Tomatoes


def test_rotten_tomatoes(shared_data):
    ds = load_rotten_tomatoes(shared_data)
    assert ds.name == "rotten_tomatoes" and ds.classes == ["neg", "pos"]
    assert (len(ds.x_train), len(ds.x_test)) == (2 * 4798, 2 * 533)
    assert ds.test.ids[:3].tolist() == [9, 19, 29] and ds.train.ratings is None
    assert ds.train.labels.tolist() == [0] * 4798 + [1] * 4798
    assert ds.x_train[4798] == ("the rock is destined to be the 21st century's new \" conan "
                                "\" and that he's going to make a splash even greater than "
                                "arnold schwarzenegger , jean-claud van damme or steven "
                                "segal .")
    joined = "\n".join(ds.x_train + ds.x_test)
    assert "…" in joined and "é" in joined and "\x85" not in joined   # cp1252, not latin-1
    folds = [load_rotten_tomatoes(shared_data, test_fold=k).test for k in range(10)]
    assert sum(len(f.texts) for f in folds) == 2 * 5331    # the folds partition the data
    assert all(t.strip() == t for t in ds.x_train[:50])


def test_rotten_tomatoes_checks(shared_data, tmp_path):
    with pytest.raises(DataNotFoundError, match=r"no folder .*rt-polaritydata.*rt-polaritydata"
                       r"\.tar\.gz.*MLSANDBOX_DATA or data_dir"):
        load_rotten_tomatoes(tmp_path)
    copy = tmp_path / "rt-polaritydata"
    shutil.copytree(shared_data / "rt-polaritydata", copy)
    with open(copy / "rt-polarity.neg", "ab") as f:
        f.write(b"one more line\n")
    with pytest.raises(ChecksumError, match=r"rt-polarity.neg"):
        load_rotten_tomatoes(tmp_path)
    with pytest.raises(ValueError, match=r"test_fold must be an int in \[0, 10\), got 10"):
        load_rotten_tomatoes(shared_data, test_fold=10)
    with pytest.raises(ValueError, match="n_folds must be an int >= 2"):
        load_rotten_tomatoes(shared_data, n_folds=1)


# --------------------------------------------------------------------- shipped corpus


def test_shipped_corpus():
    ds = load_text_corpus()
    assert ds.name == "sentiment_en" and Path(ds.source).is_file()
    assert (len(ds.x_train), len(ds.x_test)) == (240, 60)
    assert np.bincount(ds.y_train).tolist() == [120, 120]
    assert np.bincount(ds.y_test).tolist() == [30, 30]
    everything = ds.x_train + ds.x_test
    assert len(set(everything)) == 300 and all(t and t == t.strip() for t in everything)
    assert load_text_corpus().x_test == ds.x_test              # deterministic
    assert "original, hand-written" in load_text_corpus.__doc__
    assert len(load_text_corpus(test_every=3).x_test) == 100
    with pytest.raises(ValueError, match="test_every must be an int >= 2"):
        load_text_corpus(test_every=1)


def test_corpus_is_registered_as_package_data():
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    cfg = tomllib.loads(pyproject.read_text())
    assert "corpora/*.tsv" in cfg["tool"]["setuptools"]["package-data"]["mlsandbox.text"]
