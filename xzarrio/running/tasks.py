"""Run a call's tasks on its scheduler and wait for every one of them.

A local call gets a pool of its own (threads or processes), so that after a
failure the tasks still running are waited for before anything is undone; a
call on a ``distributed.Client`` runs as futures, and after a failure the
writer waits until no worker is in a store call of it (its
:class:`~xzarrio.running.gate.Gate`).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import dask
import dask.base

from .gate import Gate
from .schedulers import is_distributed_client

__all__ = ["compute", "progress_bar", "run_tasks"]


def run_tasks(delayed: Any, scheduler: Any, num_workers: int, progress: bool, gate: Gate) -> None:
    """Run the tasks of *delayed* and wait for every one of them; after a failure, close
    *gate* (the store calls the tasks make pass through it) and wait until none is in flight."""
    if is_distributed_client(scheduler):
        _run_on_client(scheduler, delayed, progress, gate)
        return
    try:
        compute(delayed, scheduler=scheduler, num_workers=num_workers, progress=progress)
    except BaseException:
        gate.close()
        gate.drain()  # zarr's sibling chunk writes of a failed one may still be in flight
        raise


def compute(*collections: Any, scheduler: Any, num_workers: int, progress: bool) -> tuple[Any, ...]:
    """``dask.compute`` of *collections* on *scheduler*; a local one on a pool of this
    call's own, every task of which has ended when this returns or raises."""
    if is_distributed_client(scheduler):
        with progress_bar(progress):
            return tuple(dask.base.compute(*collections, scheduler=scheduler))
    kwargs: dict[str, Any] = {"scheduler": scheduler}
    if scheduler != "synchronous":
        kwargs["pool"] = _pool(scheduler, num_workers)
    try:
        with progress_bar(progress):
            return tuple(dask.base.compute(*collections, **kwargs))
    finally:
        if "pool" in kwargs:
            # after a failure, the tasks still running finish before anything is undone
            kwargs["pool"].shutdown(wait=True, cancel_futures=True)


def _pool(scheduler: Any, num_workers: int) -> Executor:
    if scheduler == "processes":
        context = multiprocessing.get_context(dask.config.get("multiprocessing.context", "spawn"))
        return ProcessPoolExecutor(num_workers, mp_context=context)
    return ThreadPoolExecutor(num_workers, thread_name_prefix="xzarrio")


def _run_on_client(client: Any, delayed: Any, progress: bool, gate: Gate) -> None:
    """Run *delayed* on the cluster; after a failure, wait for every store call on it.

    Running tasks cannot be cancelled: the gate's abort event makes those that
    have not written yet refuse to, and the writer waits until no worker is
    in the middle of a store call of this write.
    """
    future = client.compute(delayed)
    try:
        if progress:
            from distributed import progress as show_progress

            show_progress(future)
        future.result()
    except BaseException:
        gate.close()
        gate.drain_workers()
        raise


@contextmanager
def progress_bar(show: bool) -> Iterator[None]:
    """dask's progress bar on stderr while the block runs, if *show*."""
    if not show:
        yield
        return
    from dask.diagnostics.progress import ProgressBar

    with ProgressBar(out=sys.stderr):
        yield
