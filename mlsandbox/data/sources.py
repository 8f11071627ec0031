"""Where datasets come from: the data directory, download URLs, downloading, unzipping.

Data directory (first that applies):

1. the ``data_dir`` argument (the CLI's ``--data-dir``),
2. the environment variable ``MLSANDBOX_DATA``,
3. the user cache, ``pooch.os_cache("mlsandbox")`` (e.g. ``~/.cache/mlsandbox``).

A dataset lives in ``<data_dir>/<name>/`` (``mnist/``, ``pizza_steak_sushi/``), the
layout of ``shared/data``, so ``MLSANDBOX_DATA=/path/to/shared/data`` works as is.

Downloads use pooch and are all-or-nothing: files go to a hidden staging directory
inside the target directory (same filesystem) and are renamed into place only once
every file has arrived and matched its sha256; the staging directory is always removed.
Staging directories that a killed process left behind (``.partial-<pid>-*`` whose pid
is dead, or any ``.partial-*`` over an hour old) are removed by the next download into
the same directory.  Downloaded files get the mode a plain ``open`` gives (``0666``
less the umask).

Each HTTP download has a per-read timeout (60 s) and an overall deadline:
``deadline=`` seconds, else ``$MLSANDBOX_DOWNLOAD_DEADLINE``, else
:data:`DOWNLOAD_DEADLINE_S` (300 s), so a server that trickles bytes cannot keep it alive
for ever.  Loaders called with ``download=None`` (their default) download when the
caller asked for it with :func:`downloads_allowed` (the CLI's ``--download``).
"""

from __future__ import annotations

import contextvars
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pooch

from kernels.fsutil import pid_alive, process_umask

from .errors import ChecksumError, DataFormatError, DownloadError, UnsafeArchiveError

ENV_DATA = "MLSANDBOX_DATA"
ENV_MNIST_URL = "MLSANDBOX_MNIST_URL"
ENV_PIZZA_URL = "MLSANDBOX_PIZZA_STEAK_SUSHI_URL"
ENV_FASHION_DIR = "MLSANDBOX_FASHION_MNIST_DIR"

#: Tried in order when no URL is given. The first is the mirror torchvision uses; the
#: second is the original site (often unreachable nowadays).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
#: The course's zip: ``train/<class>/*.jpg`` and ``test/<class>/*.jpg`` at its top level.
PIZZA_STEAK_SUSHI_URL = (
    "https://github.com/mrdbourke/pytorch-deep-learning/raw/main/data/pizza_steak_sushi.zip"
)
#: Where Debian's package ``dataset-fashion-mnist`` installs the four IDX .gz files.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

ENV_DEADLINE = "MLSANDBOX_DOWNLOAD_DEADLINE"

_TIMEOUT_S = 60
#: default overall time limit of one file's download, in seconds
DOWNLOAD_DEADLINE_S = 300.0
#: staging directories of a killed download older than this are removed
STALE_AFTER_S = 3600.0

_DOWNLOAD = contextvars.ContextVar("mlsandbox_download", default=False)


@contextmanager
def downloads_allowed(allowed: bool = True) -> Iterator[None]:
    """Within the block, loaders called without ``download=`` fetch missing data.

    The CLI wraps a study in ``downloads_allowed(args.download)``, so ``--download``
    reaches every loader the study calls.  An explicit ``download=`` argument wins.
    """
    token = _DOWNLOAD.set(bool(allowed))
    try:
        yield
    finally:
        _DOWNLOAD.reset(token)


def download_wanted(download: bool | None) -> bool:
    """``download`` itself, or for ``None`` whether :func:`downloads_allowed` is on."""
    return _DOWNLOAD.get() if download is None else bool(download)


def download_deadline(deadline: float | None = None) -> float:
    """``deadline``, else ``$MLSANDBOX_DOWNLOAD_DEADLINE``, else :data:`DOWNLOAD_DEADLINE_S`."""
    where = "deadline"
    if deadline is None and os.environ.get(ENV_DEADLINE):
        deadline, where = os.environ[ENV_DEADLINE], f"${ENV_DEADLINE}"
    if deadline is None:
        return DOWNLOAD_DEADLINE_S
    try:
        value = float(deadline)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{where} must be a positive number of seconds, got {deadline!r}")
    return value


def sweep_stale(parent: Path, prefix: str, max_age_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the entries ``<parent>/<prefix><pid>-XXXXXXXX`` whose process is dead, and
    any ``<parent>/<prefix>[<pid>-]XXXXXXXX`` older than ``max_age_s`` (``XXXXXXXX``: the
    random part of a ``tempfile.mkdtemp`` name); return what was removed.

    For the leftovers of killed writers (staging directories, temporary report folders):
    an entry of a live process is kept until it is ``max_age_s`` old.
    """
    removed = []
    if not parent.is_dir():
        return removed
    # what mkdtemp/mkstemp make of the prefix: 8 characters of [a-z0-9_] ("old": a
    # report moved aside); nothing else of the user's that shares the prefix
    pattern = re.compile(re.escape(prefix) + r"(?:(\d+)-)?(?:[a-z0-9_]{8}|old)$")
    now = time.time()
    for p in parent.iterdir():
        m = pattern.match(p.name)
        if not m:
            continue
        try:
            pid = int(m.group(1)) if m.group(1) else None
            dead = pid is not None and pid != os.getpid() and not pid_alive(pid)
            if dead or now - p.lstat().st_mtime > max_age_s:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$MLSANDBOX_DATA``, else the user cache."""
    if data_dir not in (None, ""):
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_DATA):
        return Path(os.environ[ENV_DATA]).expanduser()
    return Path(pooch.os_cache("mlsandbox"))


def base_urls(url: str | None, env_var: str, defaults: tuple[str, ...]) -> list[str]:
    """Base URLs to try: ``url`` if given, else ``$env_var`` if set, else ``defaults``.

    Each ends with ``/`` so a file name can be appended.
    """
    chosen = [url] if url else [os.environ[env_var]] if os.environ.get(env_var) else list(defaults)
    return [u if u.endswith("/") else u + "/" for u in chosen]


@contextmanager
def staging_dir(parent: Path) -> Iterator[Path]:
    """A fresh hidden directory inside ``parent`` (created if needed), removed on exit.

    Being on the same filesystem as ``parent``, its contents can be ``os.replace``-d into
    place atomically.  Directories it had to create are removed again on exit while
    they are empty, so a failed download leaves the file system as it was.
    """
    created = [p for p in (parent, *parent.parents) if not p.exists()]  # leaf first
    try:
        parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(parent, ".partial-")
        tmp = Path(tempfile.mkdtemp(prefix=f".partial-{os.getpid()}-", dir=parent))
    except OSError as e:
        raise DownloadError(
            f"cannot write to the data directory {parent} ({e}); pass a writable data_dir "
            f"(CLI --data-dir) or set {ENV_DATA}"
        ) from e
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in created:  # undo the directories we made, while they are empty
            if any(p.iterdir()):
                break
            p.rmdir()


class _HTTPDownloader:
    """A pooch downloader: ``requests`` streaming with a per-read timeout and an overall
    ``deadline`` (seconds from the request), checked after every read.

    Reads use ``read1`` (whatever has arrived, at most 64 KiB), so a server trickling a
    byte at a time is caught at the deadline, at most one read timeout later.
    """

    def __init__(self, progress: bool, deadline: float):
        self.progress, self.deadline = progress, deadline

    def __call__(self, url, output_file, pooch_obj=None, check_only=False):
        import requests
        import urllib3
        from tqdm.auto import tqdm

        start = time.monotonic()
        timeout = min(_TIMEOUT_S, self.deadline)
        with requests.get(url, stream=True, timeout=(timeout, timeout)) as r:
            r.raise_for_status()
            total = int(r.headers.get("content-length") or 0) or None
            got = 0
            with open(output_file, "wb") as out, tqdm(
                total=total, unit="B", unit_scale=True, leave=False,
                desc=urlparse(url).path.rsplit("/", 1)[-1], disable=not self.progress,
            ) as bar:
                while True:
                    if time.monotonic() - start > self.deadline:
                        of = f"{total:,}" if total else "unknown"
                        raise DownloadError(
                            f"{url}: download failed: not done after the deadline of "
                            f"{self.deadline:g} s ({got:,} of {of} bytes received); a slow "
                            f"connection may need more: set {ENV_DEADLINE} (seconds)"
                        )
                    try:
                        chunk = r.raw.read1(1 << 16, decode_content=True)
                    except urllib3.exceptions.HTTPError as e:
                        raise DownloadError(f"{url}: download failed: {e}") from e
                    if not chunk:
                        break
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    progress: bool = True,
    deadline: float | None = None,
) -> None:
    """Download ``url`` to ``dest`` with pooch, checking ``sha256`` when it is known.

    ``dest`` should lie in a :func:`staging_dir`.  ``deadline``: overall seconds for an
    HTTP(S) download (see :func:`download_deadline`).  Raises :class:`ChecksumError` (the
    server sent other bytes; pooch has deleted them) or :class:`DownloadError`.
    """
    import requests  # pooch's HTTP backend; imported lazily like pooch does

    downloader = None
    if urlparse(url).scheme in ("http", "https"):
        downloader = _HTTPDownloader(progress, download_deadline(deadline))
    try:
        pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256}" if sha256 else None,
            fname=dest.name,
            path=dest.parent,
            downloader=downloader,
            progressbar=progress,
        )
    except DownloadError:
        raise
    except ValueError as e:
        got = re.search(r"got ([0-9a-f]{64})", str(e))
        if sha256 and got:
            raise ChecksumError(
                f"{url}: the downloaded file is corrupt or not the published one: sha256 "
                f"{got.group(1)}, expected {sha256}; nothing was saved"
            ) from e
        raise DownloadError(f"{url}: {e}") from e
    except requests.HTTPError as e:
        r = e.response
        status = f"HTTP {r.status_code} {r.reason}" if r is not None else str(e)
        raise DownloadError(f"{url}: download failed: {status}") from e
    except (requests.RequestException, OSError) as e:
        raise DownloadError(f"{url}: download failed: {e}") from e
    os.chmod(dest, 0o666 & ~process_umask())  # pooch's temporary file was 0600


# ---------------------------------------------------------------------------- zip files


def safe_extract_zip(archive: Path, target: Path, max_bytes: int = 4 << 30) -> None:
    """Extract ``archive`` into the directory ``target``, refusing anything unsafe.

    Every member is checked before anything is written: absolute paths, drive letters,
    ``..`` components, symbolic links and special files raise
    :class:`UnsafeArchiveError`; more than ``max_bytes`` uncompressed (a zip bomb) or a
    corrupt archive raise :class:`DataFormatError`.  Extract into a staging directory so
    a failure never leaves a half-written dataset in place.
    """
    target = Path(target)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [(info, _member_path(info, archive)) for info in zf.infolist()]
            total = sum(info.file_size for info, _ in members)
            if total > max_bytes:
                raise DataFormatError(
                    f"{archive}: would extract {total:,} bytes, "
                    f"more than the limit of {max_bytes:,}"
                )
            root = target.resolve()
            for info, rel in members:
                dest = target.joinpath(*rel.parts)
                if os.path.commonpath([root, dest.resolve()]) != str(root):  # belt and braces
                    raise UnsafeArchiveError(
                        f"{archive}: member {info.filename!r} escapes {target}"
                    )
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "xb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, EOFError) as e:
        raise DataFormatError(f"{archive}: corrupt zip archive ({e})") from e
    except FileExistsError as e:
        raise DataFormatError(f"{archive}: member written twice: {e.filename}") from e


def _member_path(info: zipfile.ZipInfo, archive: Path) -> PurePosixPath:
    """The member's relative path, or :class:`UnsafeArchiveError` if it could escape."""
    name = info.filename.replace("\\", "/")
    why = None
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        why = "is an absolute path"
    elif ".." in name.split("/"):
        why = "contains '..'"
    else:
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            why = "is a symbolic link"
        elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            why = "is not a regular file or directory"
    rel = PurePosixPath(*[p for p in name.split("/") if p not in ("", ".")])
    if why is None and not rel.parts:
        why = "has an empty name"
    if why:
        raise UnsafeArchiveError(
            f"{archive}: refusing to extract member {info.filename!r}: it {why}; expected "
            "relative paths of plain files inside the target directory"
        )
    return rel
