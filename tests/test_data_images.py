"""Image folders on the real pizza_steak_sushi JPEGs, and its zip download from 127.0.0.1."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mlsandbox.data as data
from mlsandbox.data import (
    ChecksumError,
    DataFormatError,
    DataNotFoundError,
    DownloadError,
    UnsafeArchiveError,
)

CLASSES = ["pizza", "steak", "sushi"]


@pytest.fixture(scope="module")
def pss(shared_data) -> Path:
    return shared_data / "pizza_steak_sushi"


@pytest.fixture(scope="module")
def train(pss) -> data.ImageFolderData:
    return data.load_image_folder(pss, size=64, split="train", progress=False)


def everything_under(folder: Path) -> list[str]:
    return (
        sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
        if folder.exists()
        else []
    )


def zip_of(folder: Path, archive: Path, rel_paths, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for rel in rel_paths:
            zf.write(folder / rel, prefix + rel)
    return archive


def small_class_folder(pss: Path, root: Path) -> Path:
    """``root/train/{pizza,steak}/`` with two real JPEGs each."""
    for name in ("pizza", "steak"):
        (root / "train" / name).mkdir(parents=True)
        for src in sorted((pss / "train" / name).iterdir())[:2]:
            shutil.copyfile(src, root / "train" / name / src.name)
    return root


# ---------------------------------------------------------------------- image folders


def test_image_folder_train_split(train, pss):
    assert train.images.shape == (225, 64, 64, 3) and train.images.dtype == np.uint8
    assert train.labels.dtype == np.int64 and np.bincount(train.labels).tolist() == [78, 75, 72]
    assert train.classes == CLASSES
    assert train.paths == sorted(train.paths)  # class folders and file names both sorted
    assert train.paths[0] == str(pss / "train" / "pizza" / "1008844.jpg")
    assert train.paths[-1].startswith(str(pss / "train" / "sushi"))


def test_pixels_are_pillow_bilinear_rgb(train):
    for i in (0, 100, 224):
        with Image.open(train.paths[i]) as im:
            want = np.asarray(im.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR))
        np.testing.assert_array_equal(train.images[i], want)
    assert 40 < train.images.mean() < 220 and train.images.std() > 20  # real photos, not blank


def test_image_folder_test_split_other_size(pss):
    test = data.load_image_folder(pss, size=24, split="test", progress=False)
    assert test.images.shape == (75, 24, 24, 3) and np.bincount(test.labels).tolist() == [
        25,
        19,
        31,
    ]


def test_corrupt_and_non_image_files_are_named(pss, tmp_path):
    root = small_class_folder(pss, tmp_path)
    good = sorted((root / "train" / "steak").iterdir())[0]
    cut = root / "train" / "steak" / "zz-truncated.jpg"
    cut.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(DataFormatError, match=re.escape(str(cut)) + ": not a readable image"):
        data.load_image_folder(root, progress=False)
    cut.unlink()
    notes = root / "train" / "pizza" / "notes.txt"
    notes.write_text("not a picture")
    with pytest.raises(DataFormatError, match=re.escape(str(notes)) + ": not a readable image"):
        data.load_image_folder(root, progress=False)
    notes.unlink()
    (root / "train" / "pizza" / ".DS_Store").write_bytes(b"\0junk")  # hidden files are ignored
    got = data.load_image_folder(root, size=8, progress=False)
    assert got.images.shape == (4, 8, 8, 3) and got.labels.tolist() == [0, 0, 1, 1]


def test_an_empty_class_folder_is_refused(pss, tmp_path):
    root = small_class_folder(pss, tmp_path)
    (root / "train" / "burger").mkdir()  # sorts first: would shift pizza and steak ids
    (root / "train" / "burger" / ".keep").write_bytes(b"")  # hidden files do not count
    with pytest.raises(DataFormatError) as info:
        data.load_image_folder(root, progress=False)
    message = str(info.value)
    assert f"{root / 'train' / 'burger'}: no images found in class folder 'burger'" in message
    assert "remove it or add images" in message


def test_bad_layout_errors(pss, tmp_path):
    root = small_class_folder(pss, tmp_path)
    with pytest.raises(DataNotFoundError, match=r"test: no such directory.*splits found: train"):
        data.load_image_folder(root, split="test")
    (root / "valid" / "empty_class").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="no images found"):
        data.load_image_folder(root, split="valid")
    with pytest.raises(ValueError, match="positive int"):
        data.load_image_folder(root, size=0)


# ------------------------------------------------------------------ pizza_steak_sushi


def test_load_pizza_steak_sushi_local(shared_data):
    ds = data.load_pizza_steak_sushi(shared_data, size=32, progress=False)
    assert ds.x_train.shape == (225, 32, 32, 3) and ds.x_test.shape == (75, 32, 32, 3)
    assert ds.classes == CLASSES and np.bincount(ds.y_test).tolist() == [25, 19, 31]
    assert ds.features().shape == (225, 32 * 32 * 3) and ds.features().max() <= 1.0
    assert ds.name == "pizza_steak_sushi" and ds.source == str(shared_data / "pizza_steak_sushi")


def test_tampered_local_image_fails_its_checksum(pss, tmp_path):
    shutil.copytree(pss, tmp_path / "pizza_steak_sushi")
    victim = tmp_path / "pizza_steak_sushi" / "test" / "sushi" / "1742201.jpg"
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes()[:-10])
    want = data.images.pizza_steak_sushi_sha256()["test/sushi/1742201.jpg"]
    with pytest.raises(ChecksumError) as info:
        data.load_pizza_steak_sushi(tmp_path, progress=False)
    message = str(info.value)
    assert "1 with wrong sha256: test/sushi/1742201.jpg" in message and want in message
    assert "download=True" in message


def linked_copy(pss: Path, tmp_path: Path) -> Path:
    """``tmp_path/pizza_steak_sushi`` as symlinks to the 300 real files (cheap to alter)."""
    for rel in data.images.pizza_steak_sushi_sha256():
        (tmp_path / "pizza_steak_sushi" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pizza_steak_sushi" / rel).symlink_to(pss / rel)
    return tmp_path / "pizza_steak_sushi"


@pytest.mark.parametrize("change, found", [
    ("extra image", "1 unexpected: train/pizza/extra.jpg"),
    ("extra class", "2 unexpected: train/burger/; train/burger/1.jpg"),
    ("empty class", "1 unexpected: test/burger/"),
    ("hidden file", "1 unexpected: test/sushi/.DS_Store"),
    ("missing image", "1 missing: test/sushi/1742201.jpg"),
])
def test_local_pizza_steak_sushi_is_checked_strictly(pss, tmp_path, change, found):
    folder = linked_copy(pss, tmp_path)
    if change == "extra image":
        (folder / "train/pizza/extra.jpg").symlink_to(pss / "train/pizza/1008844.jpg")
    elif change == "extra class":
        (folder / "train/burger").mkdir()
        (folder / "train/burger/1.jpg").symlink_to(pss / "train/steak/100135.jpg")
    elif change == "empty class":
        (folder / "test/burger").mkdir()
    elif change == "hidden file":
        (folder / "test/sushi/.DS_Store").write_bytes(b"\0")
    else:
        (folder / "test/sushi/1742201.jpg").unlink()
    with pytest.raises(ChecksumError) as info:
        data.load_pizza_steak_sushi(tmp_path, size=8, progress=False)
    message = str(info.value)
    assert f"{folder}: does not match its sha256 listing of 300 files" in message
    assert found in message and "download=True" in message


# --------------------------------------------------------------------- zip download


@pytest.fixture(scope="module")
def full_zip(pss, tmp_path_factory) -> Path:
    """The whole dataset zipped like the course's zip (train/ and test/ at the top)."""
    served = tmp_path_factory.mktemp("served")
    rel = sorted(data.images.pizza_steak_sushi_sha256())
    zip_of(pss, served / "pizza_steak_sushi.zip", rel)
    return served / "pizza_steak_sushi.zip"


def test_zip_download_extracts_verifies_and_loads(http_server, full_zip, tmp_path, monkeypatch):
    url = http_server(full_zip.parent) + full_zip.name
    monkeypatch.setenv("MLSANDBOX_PIZZA_STEAK_SUSHI_URL", url)
    ds = data.load_pizza_steak_sushi(tmp_path / "data", size=16, download=True, progress=False)
    assert ds.x_train.shape == (225, 16, 16, 3) and ds.classes == CLASSES
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["pizza_steak_sushi"]  # no .partial-*
    assert len([p for p in (tmp_path / "data").rglob("*.jpg")]) == 300


def test_zip_with_a_top_folder_is_accepted(http_server, pss, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    zip_of(
        pss,
        served / "wrapped.zip",
        sorted(data.images.pizza_steak_sushi_sha256()),
        "pizza_steak_sushi/",
    )
    url = http_server(served) + "wrapped.zip"
    ds = data.load_pizza_steak_sushi(
        tmp_path / "data", size=8, download=True, url=url, progress=False
    )
    assert ds.x_test.shape == (75, 8, 8, 3)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["pizza_steak_sushi"]


def test_incomplete_or_altered_zip_leaves_nothing(http_server, pss, tmp_path):
    served = tmp_path / "served"
    (served / "train" / "pizza").mkdir(parents=True)
    rel = [
        r for r in sorted(data.images.pizza_steak_sushi_sha256()) if r.startswith("train/pizza/")
    ][:3]
    for r in rel:  # a few real JPEGs ...
        shutil.copyfile(pss / r, served / r)
    (served / rel[0]).write_bytes((pss / rel[0]).read_bytes()[:-1])  # ... one of them altered
    shutil.copyfile(pss / rel[1], served / "train" / "pizza" / "odd.jpg")  # a file not listed
    zip_of(served, served / "few.zip", rel + ["train/pizza/odd.jpg"])
    target = tmp_path / "data"
    with pytest.raises(ChecksumError) as info:
        data.load_pizza_steak_sushi(
            target, download=True, url=http_server(served) + "few.zip", progress=False
        )
    message = str(info.value)
    assert "297 missing" in message and f"1 with wrong sha256: {rel[0]}" in message
    assert "1 unexpected: train/pizza/odd.jpg" in message and "nothing was saved" in message
    assert everything_under(target) == []


def test_malicious_zip_download_is_refused(http_server, pss, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "evil.zip", "w") as zf:
        zf.writestr("train/pizza/1.jpg", (pss / "train/pizza/1008844.jpg").read_bytes())
        zf.writestr("../../escaped.jpg", b"gotcha")
    target = tmp_path / "deep" / "data"
    with pytest.raises(UnsafeArchiveError, match="'../../escaped.jpg'"):
        data.load_pizza_steak_sushi(
            target, download=True, url=http_server(served) + "evil.zip", progress=False
        )
    assert everything_under(tmp_path / "deep") == [] and not list(tmp_path.rglob("escaped.jpg"))


def test_zip_404(http_server, tmp_path):
    (tmp_path / "served").mkdir()
    url = http_server(tmp_path / "served") + "nope.zip"
    with pytest.raises(DownloadError, match=re.escape(url) + ": download failed: HTTP 404"):
        data.load_pizza_steak_sushi(tmp_path / "data", download=True, url=url, progress=False)
    assert not (tmp_path / "data").exists()
