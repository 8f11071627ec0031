"""Where the read-only ``shared/`` folder is: beside the repository, or ``$MLSANDBOX_SHARED``."""

from __future__ import annotations

import os
from pathlib import Path

#: the environment variable naming the shared folder (overrides the lookup)
ENV_SHARED = "MLSANDBOX_SHARED"


def repo_root() -> Path:
    """The source checkout: the one holding this package (an editable install or a run
    from the checkout), else the nearest folder at or above the working directory with a
    ``pyproject.toml`` (a non-editable install run from the checkout), else the working
    directory."""
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file():
        return here
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return cwd


def shared_root() -> Path:
    """``$MLSANDBOX_SHARED`` if set, else ``shared/`` beside the repository (it may be
    absent: callers check)."""
    env = os.environ.get(ENV_SHARED)
    return Path(env) if env else repo_root().parent / "shared"
