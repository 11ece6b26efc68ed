"""Which dask scheduler runs a call, with how many workers, and whether they reach its stores.

One rule for writing, verifying, rechunking and profiling.

``None`` means dask's own rule: the scheduler set in ``dask.config``, else the
active ``distributed.Client``, else threads. A name (or one of dask's aliases
for it) stays local; a ``Client`` is used as it is. Inside a task of a
``distributed`` worker, ``None`` means the task's own thread: a task that
submitted tasks of its own and waited for them would hold a worker thread.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import dask
import xarray as xr
import zarr

from ..errors import InvalidArgumentError
from ..options import OPTIONS, resolve_num_workers
from ..stores import Location

__all__ = [
    "SCHEDULERS",
    "active_client",
    "check_reaches",
    "choose_scheduler",
    "is_distributed_client",
    "resolve_scheduler",
    "stays_local",
    "worker_count",
]

SCHEDULERS = ("threads", "synchronous", "processes")
_ALIASES = {
    "threading": "threads",
    "sync": "synchronous",
    "single-threaded": "synchronous",
    "multiprocessing": "processes",
}
_DISTRIBUTED = ("distributed", "dask.distributed")


def is_distributed_client(obj: Any) -> bool:
    """Whether *obj* is a ``distributed.Client`` (without importing distributed)."""
    return type(obj).__name__ == "Client" and type(obj).__module__.startswith("distributed")


def active_client() -> Any:
    """The default ``distributed.Client`` of this process, or None."""
    if "distributed" not in sys.modules:
        return None  # no Client can exist without distributed imported
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def _inside_a_worker() -> bool:
    if "distributed" not in sys.modules:
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def _unknown(scheduler: Any) -> InvalidArgumentError:
    what = (
        f"unknown scheduler {scheduler!r}"
        if isinstance(scheduler, str)
        else f"scheduler={scheduler!r} is not understood"
    )
    return InvalidArgumentError(
        f"{what}; expected one of {list(SCHEDULERS)}, a distributed.Client, or None "
        "(dask's configured scheduler, else the active Client, else threads)"
    )


def resolve_scheduler(scheduler: Any, *, local_only: bool = False) -> Any:
    """A scheduler name of :data:`SCHEDULERS`, or a ``distributed.Client``.

    With *local_only* (data already in this process's memory) ``None`` never
    picks a Client: the data would only travel to the workers and back.
    """
    if scheduler is None:
        if _inside_a_worker():
            return "synchronous"
        configured = dask.config.get("scheduler", None)
        if configured is not None and configured not in _DISTRIBUTED:
            return resolve_scheduler(configured)
        client = None if local_only else active_client()
        if client is not None:
            return client
        if configured in _DISTRIBUTED and not local_only:
            raise InvalidArgumentError(
                f"dask.config's scheduler is {configured!r} but no distributed.Client is "
                "active; start one, or pass scheduler='threads'"
            )
        return "threads"
    if isinstance(scheduler, str):
        name = _ALIASES.get(scheduler, scheduler)
        if name in _DISTRIBUTED:
            client = active_client()
            if client is None:
                raise InvalidArgumentError(
                    f"scheduler={scheduler!r} needs an active distributed.Client; none is"
                )
            return client
        if name not in SCHEDULERS:
            raise _unknown(scheduler)
        return name
    if is_distributed_client(scheduler):
        return scheduler
    raise _unknown(scheduler)


def stays_local(data: xr.Dataset | None, *locations: Location) -> bool:
    """Whether ``scheduler=None`` keeps to this process: for *data* all in memory, or a
    store among *locations* that lives in this process, no Client unless one is asked for."""
    in_memory = data is not None and all(v.chunks is None for v in data.variables.values())
    return in_memory or any(where.in_process for where in locations)


def check_reaches(
    scheduler: Any, location: Location, *, in_place: bool, reading: bool = False
) -> None:
    """Refuse a *scheduler* whose workers cannot reach the store at *location* (a
    local one that is not there yet, not *in_place*: its folder). Workers that
    only read may read copies of a store in memory."""
    on_client = is_distributed_client(scheduler)
    if not on_client and scheduler != "processes":
        return
    if not reading:
        who = "a distributed.Client" if on_client else "the processes scheduler"
        location.refuse_processes(who, client=on_client)
    folder = location.folder_for_workers(in_place=in_place) if on_client else None
    if folder is None:
        return
    seen = scheduler.run(os.path.isdir, folder)
    blind = sorted(worker for worker, ok in seen.items() if not ok)
    if blind:
        raise InvalidArgumentError(
            f"the Client's workers {blind} cannot see {folder!r}; write to a path that "
            "every worker shares, or to an object store"
        )


def choose_scheduler(
    scheduler: Any, *locations: Location, data: xr.Dataset | None = None, in_place: bool = True,
    reading: bool = False,
) -> Any:  # fmt: skip
    """The scheduler of a call on the stores at *locations* (:func:`resolve_scheduler`
    by :func:`stays_local`'s rule), refused where its workers cannot reach one of them
    (:func:`check_reaches`; a call *reading* only may read copies)."""
    chosen = resolve_scheduler(scheduler, local_only=stays_local(data, *locations))
    for where in locations:
        check_reaches(chosen, where, in_place=in_place, reading=reading)
    return chosen


def worker_count(num_workers: int | None, location: Location | None = None) -> int:
    """Threads (or processes) of a call: *num_workers*, else the option, else all
    cores; for a store over the network at least as many as zarr's own concurrency
    (its calls wait on the network)."""
    workers = resolve_num_workers(num_workers)
    if num_workers is None and OPTIONS["num_workers"] is None:
        if location is not None and location.over_network:
            workers = max(workers, int(zarr.config.get("async.concurrency") or 1))
    return workers
