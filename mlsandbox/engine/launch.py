"""Process groups for data-parallel torch runs on one machine: what ``torchrun
--nproc-per-node N`` does, from Python.

>>> from mlsandbox.engine import launch
>>> launch.ranks(2, work, arg)     # work(rank, arg) in 2 gloo processes   # doctest: +SKIP

:func:`ranks` starts ``n`` processes (``spawn``, so nothing of the parent's framework
state is inherited), joins them in a gloo process group on 127.0.0.1 at a free port,
calls ``fn(rank, *args)`` in each and returns rank 0's result.  Where torch sees GPUs
(and ``MLSANDBOX_DEVICE`` is not ``cpu``) each rank takes one, round robin, and the
group is NCCL's.  The CPU's cores are
shared among the ranks (``torch.set_num_threads``), as ``torchrun`` leaves to the user.
A failure on any rank stops them all and is raised here with that rank's traceback; a
rank that dies without a word is named with its exit code.

Under ``torchrun`` (the process group exists already, ``RANK``/``WORLD_SIZE`` set),
:func:`in_group` is true and callers run their work directly: multi-host is
``torchrun --nnodes H --nproc-per-node N --rdzv-endpoint HOST:PORT``.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import socket
import sys
import traceback


class RankFailed(RuntimeError):
    """A rank of a data-parallel run raised or died."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the rendezvous of the process group)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_group() -> bool:
    """Whether this process belongs to an initialized torch process group."""
    if "torch" not in sys.modules:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def is_writer() -> bool:
    """Whether this process writes a run's files and progress: rank 0 of a torch process
    group, process 0 of a ``jax.distributed`` run, and any process outside both."""
    if in_group():
        import torch.distributed as dist

        return dist.get_rank() == 0
    if "jax" in sys.modules:
        import jax

        return jax.process_index() == 0
    return True


def _rank_main(rank: int, n: int, port: int, threads: int, fn, args, results) -> None:
    try:
        import torch
        import torch.distributed as dist

        from models.frameworks import wanted_device

        torch.set_num_threads(threads)
        backend = "gloo"
        if wanted_device() != "cpu" and torch.cuda.is_available():
            # a GPU per rank (round robin), and NCCL between them
            torch.cuda.set_device(rank % torch.cuda.device_count())
            backend = "nccl"
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}",
                                rank=rank, world_size=n)
        try:
            out = fn(rank, *args)
        finally:
            dist.destroy_process_group()
        results.put((rank, "ok", out if rank == 0 else None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, then re-raised there
        results.put((rank, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def ranks(n: int, fn, *args, timeout: float | None = None):
    """``fn(rank, *args)`` on ``n`` gloo ranks (one process each); rank 0's return value.

    ``fn`` must be importable by name (a module-level function), as ``spawn`` needs."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"ranks needs a process count >= 1, got {n!r}")
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    port = free_port()
    threads = max(1, (os.cpu_count() or 1) // n)
    procs = [ctx.Process(target=_rank_main, args=(r, n, port, threads, fn, args, results),
                         daemon=True) for r in range(n)]
    for p in procs:
        p.start()
    try:
        return _collect(procs, results, timeout)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


def _collect(procs, results, timeout):
    done: dict[int, object] = {}
    waited = 0.0
    while len(done) < len(procs):
        try:
            rank, status, value = results.get(timeout=1.0)
        except queue.Empty:
            waited += 1.0
            dead = [(r, p.exitcode) for r, p in enumerate(procs)
                    if r not in done and p.exitcode is not None]
            if dead:
                r, code = dead[0]
                raise RankFailed(f"rank {r} of {len(procs)} died with exit code {code} "
                                 f"before reporting") from None
            if timeout is not None and waited >= timeout:
                raise RankFailed(f"the {len(procs)} ranks did not finish in {timeout:g} s")
            continue
        if status == "error":
            raise RankFailed(f"rank {rank} of {len(procs)} failed: {value}")
        done[rank] = value
    return done[0]
