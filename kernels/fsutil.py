"""Two facts about the running process that every writer of files here needs: the kernel
cache (``kernels/accel/native.py``), checkpoints (``models/checkpoint.py``), downloads
and reports (``mlsandbox``).  They live on the ground floor so that each of those imports
them from one place."""

from __future__ import annotations

import os


def process_umask() -> int:
    """This process's umask (read from /proc where possible, so nothing is changed)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (someone else's counts; a number that is no pid
    does too, so that a stale-file sweep never removes what it cannot judge)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
