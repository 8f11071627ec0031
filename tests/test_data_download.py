"""Downloads against a local HTTP server on 127.0.0.1 serving the real files, and safe unzip."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import socket
import stat
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import mlsandbox.data as data
from mlsandbox.data import (
    ChecksumError,
    DataFormatError,
    DownloadError,
    UnsafeArchiveError,
    datasets,
    sources,
)

FILES = list(datasets.IDX_FILES.values())


def listing(folder: Path) -> list[str]:
    """Everything under ``folder`` (hidden staging directories included), or [] if absent."""
    return (
        sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
        if folder.exists()
        else []
    )


def served_copy(shared_data: Path, tmp_path: Path, names=FILES) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    for name in names:
        shutil.copyfile(shared_data / "mnist" / name, root / name)
    return root


# ------------------------------------------------------------------------------ MNIST


def test_download_mnist_then_load(http_server, shared_data, tmp_path, monkeypatch):
    url = http_server(shared_data / "mnist")
    monkeypatch.setenv("MLSANDBOX_MNIST_URL", url)  # the env var path
    target = tmp_path / "cache"
    ds = data.load_mnist(target, download=True, progress=False)
    assert listing(target / "mnist") == sorted(FILES)  # no staging leftovers
    for name in FILES:
        assert (target / "mnist" / name).read_bytes() == (shared_data / "mnist" / name).read_bytes()
    assert ds.source == str(target / "mnist") and ds.x_train.shape == (60000, 28, 28)
    assert np.bincount(ds.y_test).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]


def test_download_fetches_only_missing_files(http_server, shared_data, tmp_path):
    served = served_copy(shared_data, tmp_path, FILES[1::2])  # the server only has half
    target = tmp_path / "data"
    (target / "mnist").mkdir(parents=True)
    for name in FILES[::2]:
        shutil.copyfile(shared_data / "mnist" / name, target / "mnist" / name)
    ds = data.load_mnist(target, download=True, url=http_server(served).rstrip("/"), progress=False)
    assert listing(target / "mnist") == sorted(FILES) and len(ds.y_train) == 60000


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_download_leaves_nothing(http_server, shared_data, tmp_path, damage):
    served = served_copy(shared_data, tmp_path)
    bad = served / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(bad.read_bytes())
    raw = (
        raw[: len(raw) // 2]
        if damage == "truncate"
        else raw[:500] + bytes([raw[500] ^ 1]) + raw[501:]
    )
    bad.write_bytes(bytes(raw))
    url = http_server(served)
    target = tmp_path / "data"
    with pytest.raises(ChecksumError) as info:
        data.load_mnist(target, download=True, url=url, progress=False)
    message = str(info.value)
    assert url + bad.name in message and "nothing was saved" in message
    assert hashlib.sha256(raw).hexdigest() in message
    assert datasets.mnist_sha256()[bad.name] in message
    assert listing(target) == []  # not even the three good files: all or nothing


def test_http_404_is_a_clear_error(http_server, tmp_path):
    (tmp_path / "empty").mkdir()
    url = http_server(tmp_path / "empty")
    target = tmp_path / "data"
    (target / "mnist").mkdir(parents=True)  # an existing folder is kept, and stays empty
    with pytest.raises(
        DownloadError, match=rf"{url}train-images-idx3-ubyte.gz: download failed: HTTP 404"
    ):
        data.load_mnist(target, download=True, url=url, progress=False)
    assert listing(target) == ["mnist"]


def test_connection_refused_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mnist/"
    with pytest.raises(DownloadError, match=f"{url}.*download failed"):
        data.load_mnist(tmp_path / "d", download=True, url=url, progress=False)
    assert listing(tmp_path) == []


def test_mirrors_are_tried_in_turn(http_server, shared_data, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.delenv("MLSANDBOX_MNIST_URL", raising=False)
    mirrors = (http_server(tmp_path / "empty"), http_server(shared_data / "mnist"))
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", mirrors)
    ds = data.load_mnist(tmp_path / "d", download=True, progress=False)
    assert len(ds.y_test) == 10000
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", mirrors[:1] * 2)
    with pytest.raises(DownloadError, match="every mirror.*404.*404"):
        data.load_mnist(tmp_path / "e", download=True, progress=False)


def test_url_argument_beats_env(monkeypatch):
    monkeypatch.setenv("MLSANDBOX_MNIST_URL", "http://127.0.0.1:9/env")
    assert sources.base_urls("http://a/b", "MLSANDBOX_MNIST_URL", ("http://c/",)) == ["http://a/b/"]
    assert sources.base_urls(None, "MLSANDBOX_MNIST_URL", ("http://c/",)) == [
        "http://127.0.0.1:9/env/"
    ]
    monkeypatch.delenv("MLSANDBOX_MNIST_URL")
    assert sources.base_urls(None, "MLSANDBOX_MNIST_URL", ("http://c/",)) == ["http://c/"]


def test_unwritable_data_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DownloadError, match="cannot write to the data directory .*MLSANDBOX_DATA"):
        data.load_mnist(blocker, download=True, url="http://127.0.0.1:9/", progress=False)


# ------------------------------------------------------------------------ safe unzip


def make_zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
        for name, link_target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix, so external_attr carries the file mode
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, link_target)
    return path


def test_safe_extract_keeps_layout(tmp_path):
    archive = make_zip(
        tmp_path / "ok.zip", {"train/a/1.txt": b"one", "./test/b/2.txt": b"two", "train/": b""}
    )
    target = tmp_path / "out"
    target.mkdir()
    sources.safe_extract_zip(archive, target)
    assert listing(target) == [
        "test",
        "test/b",
        "test/b/2.txt",
        "train",
        "train/a",
        "train/a/1.txt",
    ]
    assert (target / "test/b/2.txt").read_bytes() == b"two"


@pytest.mark.parametrize(
    "member, why",
    [
        ("../evil.txt", "contains '..'"),
        ("train/../../evil.txt", "contains '..'"),
        ("..\\evil.txt", "contains '..'"),
        ("/tmp/evil.txt", "is an absolute path"),
        ("C:/evil.txt", "is an absolute path"),
    ],
)
def test_malicious_member_paths_are_refused(tmp_path, member, why):
    archive = make_zip(tmp_path / "evil.zip", {"fine.txt": b"ok", member: b"pwned"})
    target = tmp_path / "box" / "out"
    target.mkdir(parents=True)
    with pytest.raises(UnsafeArchiveError) as info:
        sources.safe_extract_zip(archive, target)
    assert (
        repr(member) in str(info.value)
        and why in str(info.value)
        and str(archive) in str(info.value)
    )
    assert listing(tmp_path / "box") == ["out"]  # checked before anything was written
    assert not Path("/tmp/evil.txt").exists()


def test_symlink_member_is_refused(tmp_path):
    archive = make_zip(
        tmp_path / "link.zip", {"a.txt": b"ok"}, symlinks={"train/link": "/etc/passwd"}
    )
    (tmp_path / "out").mkdir()
    with pytest.raises(UnsafeArchiveError, match="'train/link'.*symbolic link"):
        sources.safe_extract_zip(archive, tmp_path / "out")
    assert listing(tmp_path / "out") == []


def test_zip_bomb_and_corrupt_zip(tmp_path):
    archive = make_zip(tmp_path / "big.zip", {"zeros": bytes(10_000)})
    with pytest.raises(DataFormatError, match="10,000 bytes, more than the limit of 1,000"):
        sources.safe_extract_zip(archive, tmp_path, max_bytes=1000)
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DataFormatError, match=f"{junk}: corrupt zip archive"):
        sources.safe_extract_zip(junk, tmp_path)


# --------------------------------------------------- deadline, leftovers, permissions


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Announces 1,000 bytes, then sends one every 50 ms (each read is quick, the whole
    would take 50 s)."""

    def do_GET(self):  # noqa: N802 - the base class's name
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:  # the client gave up
            pass

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture
def trickle_url(http_server):
    http_server  # noqa: B018 - for its proxy settings (127.0.0.1 direct)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_trickling_server_hits_the_overall_deadline(trickle_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MLSANDBOX_DOWNLOAD_DEADLINE", "0.5")
    with pytest.raises(DownloadError) as info:
        data.load_mnist(tmp_path / "d", download=True, url=trickle_url, progress=False)
    message = str(info.value)
    assert f"{trickle_url}train-images-idx3-ubyte.gz: download failed: not done after the " \
           "deadline of 0.5 s" in message
    assert "of 1,000 bytes received" in message and "MLSANDBOX_DOWNLOAD_DEADLINE" in message
    assert listing(tmp_path) == []  # nothing left behind
    with pytest.raises(DownloadError, match="deadline of 0.25 s"):  # the argument wins
        sources.download(trickle_url + "f", tmp_path / "f", deadline=0.25, progress=False)


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf", "nan"])
def test_a_bad_deadline_is_named(monkeypatch, value):
    monkeypatch.setenv("MLSANDBOX_DOWNLOAD_DEADLINE", value)
    with pytest.raises(ValueError, match=r"\$MLSANDBOX_DOWNLOAD_DEADLINE must be a positive "
                                         rf"number of seconds, got '{value}'"):
        sources.download_deadline()
    assert sources.download_deadline(12) == 12.0
    monkeypatch.delenv("MLSANDBOX_DOWNLOAD_DEADLINE")
    assert sources.download_deadline() == sources.DOWNLOAD_DEADLINE_S == 300.0


def test_stale_staging_folders_are_swept(http_server, shared_data, tmp_path):
    folder = tmp_path / "data" / "mnist"
    dead = folder / ".partial-999999999-abcdefgh"     # its writer's pid cannot exist
    old = folder / ".partial-q1w2e3r4"           # an earlier version's name, two hours old
    live = folder / f".partial-{os.getpid()}-x1234567"  # a download in progress
    mine = folder / ".partial-notes"             # a name tempfile never makes: kept
    for p in (dead, old, live, mine):
        (p / "sub").mkdir(parents=True)
        (p / "sub" / "half.gz").write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    for p in (old, mine):
        os.utime(p, (two_hours_ago, two_hours_ago))
    data.load_mnist(tmp_path / "data", download=True, url=http_server(shared_data / "mnist"),
                    progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES + [live.name, mine.name])


def test_downloaded_files_follow_the_umask(http_server, shared_data, tmp_path):
    old = os.umask(0o022)
    try:
        data.load_mnist(tmp_path, download=True, url=http_server(shared_data / "mnist"),
                        progress=False)
    finally:
        os.umask(old)
    assert {stat.S_IMODE((tmp_path / "mnist" / n).stat().st_mode) for n in FILES} == {0o644}


def test_downloads_allowed_reaches_loaders_called_without_download(http_server, shared_data,
                                                                    tmp_path, monkeypatch):
    monkeypatch.setenv("MLSANDBOX_MNIST_URL", http_server(shared_data / "mnist"))
    with pytest.raises(data.DataNotFoundError):
        data.load_mnist(tmp_path, progress=False)
    with data.downloads_allowed():
        with pytest.raises(data.DataNotFoundError):  # an explicit argument wins
            data.load_mnist(tmp_path, download=False, progress=False)
        assert len(data.load_mnist(tmp_path, progress=False).y_test) == 10000
    assert not sources.download_wanted(None)  # off again after the block
