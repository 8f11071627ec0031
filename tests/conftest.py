"""Shared test fixtures.

- ``shared_dir`` / ``shared_data``: the read-only ``shared/`` folder beside the repository
  (``$MLSANDBOX_SHARED`` overrides); tests that need it are skipped when it is absent.
- ``http_server``: serves a local directory over HTTP on 127.0.0.1, for download tests
  (tests never reach the internet).
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

from mlsandbox.testing.shared import shared_root


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``shared/`` (read it, never write there); skips the test when it is absent."""
    root = shared_root()
    if not root.is_dir():
        pytest.skip(f"shared folder {root} not found (set MLSANDBOX_SHARED to its path)")
    return root


@pytest.fixture(scope="session")
def shared_data(shared_dir: Path) -> Path:
    """``shared/data``: mnist/, pizza_steak_sushi/, aclImdb/, ... (see its MANIFEST.md)."""
    return shared_dir / "data"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


@pytest.fixture
def http_server(monkeypatch):
    """Factory ``http_server(directory) -> "http://127.0.0.1:<port>/"`` serving that folder.

    Each call starts a ThreadingHTTPServer on a free port in a daemon thread; all are
    shut down at teardown.  Missing files give 404.  Proxies are bypassed for 127.0.0.1.
    """
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    running = []

    def start(directory: str | os.PathLike) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
