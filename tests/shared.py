"""Where the read-only ``shared/`` folder is: beside the repository, or ``$MLSANDBOX_SHARED``."""

from __future__ import annotations

import os
from pathlib import Path


def shared_root() -> Path:
    env = os.environ.get("MLSANDBOX_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
