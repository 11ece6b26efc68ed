"""Which dask scheduler runs a computation: one rule for writing, profiling and the rest.

``None`` means dask's own rule: the scheduler set in ``dask.config``, else the
active ``distributed.Client``, else threads. A name (or one of dask's aliases
for it) stays local; a ``Client`` is used as it is. Inside a task of a
``distributed`` worker, ``None`` means the task's own thread: a task that
submitted tasks of its own and waited for them would hold a worker thread.
"""

from __future__ import annotations

import sys
from typing import Any

import dask

from .errors import InvalidArgumentError

__all__ = ["SCHEDULERS", "active_client", "is_distributed_client", "resolve_scheduler"]

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
