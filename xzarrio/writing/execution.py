"""Carry out a write plan: the data, then the provenance, inside a transaction.

xarray's own zarr backend writes the metadata and builds the chunk writes
(``to_zarr(compute=False)``); xzarrio runs those tasks itself, on its own
pool or as futures of a ``distributed.Client``, so that it knows when every
one of them has ended.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from typing import Any

import dask
import zarr

from ..codecs import quiet_spec_notes
from ..provenance import (
    PROVENANCE_KEYS,
    attrs_for_modified_store,
    attrs_for_new_store,
    history_line,
    now_utc,
)
from ..schedulers import is_distributed_client
from .guard import Gate, GuardedStore
from .manifests import record_manifests
from .plan import WritePlan
from .report import WriteReport, report_of
from .shared import hold_shared_chunks
from .transactions import open_transaction

__all__ = ["execute", "progress_bar", "run_tasks"]


def execute(plan: WritePlan) -> WriteReport:
    """Write what *plan* says, all or nothing, and report on it."""
    with quiet_spec_notes():
        return _execute(plan)


def _execute(plan: WritePlan) -> WriteReport:
    gate = Gate(plan.scheduler if is_distributed_client(plan.scheduler) else None)
    transaction = open_transaction(
        plan.target.location,
        in_place=plan.target.in_place,
        mode=plan.mode,
        operation=plan.operation,
        gate=gate,
    )
    with transaction as store:
        journal = getattr(transaction, "journal", None)
        with hold_shared_chunks(plan.shared, plan.target.location, plan.group, journal, gate):
            transaction.message = _write_data(plan, store, gate)
        if plan.target.in_place:
            transaction.finish()
        record_manifests(plan, store, gate)
        if plan.target.in_place:
            transaction.message = _stamp(plan, store, transaction.message)
    # a new store holds exactly what was written, if all of it was written here
    local = plan.scheduler in ("threads", "synchronous") and not plan.target.in_place
    return report_of(plan, transaction.snapshot_id, store.written if local else None)


def _write_data(plan: WritePlan, store: GuardedStore, gate: Gate) -> str:
    """The metadata through xarray, then every chunk as a task of this write.

    A new store gets its provenance with its metadata, stamped now, and
    xarray consolidates it; the history line is returned.
    """
    ds = plan.ds.copy(deep=False)
    line = plan.operation
    if plan.target.existing is not None:
        # xarray puts the Dataset's attributes on the group (mode "a"): give it the
        # store's own, read now (a deferred write runs after others), updated with the
        # Dataset's in mode "a" as in xarray (which drops those the Dataset lacks);
        # the store's provenance stays ('coordinates' is xarray's to write)
        attrs = zarr.open_group(store, mode="r", path=plan.group or "").attrs.asdict()
        if plan.mode in ("a", "a-"):
            attrs.update({k: v for k, v in ds.attrs.items() if k not in PROVENANCE_KEYS})
        ds.attrs = {k: v for k, v in attrs.items() if k != "coordinates"}
    elif plan.provenance:
        now = now_utc()
        ds.attrs = attrs_for_new_store(ds.attrs, plan.call, plan.text, now)
        line = history_line(plan.call, plan.text, now)
    icechunk = plan.target.location.kind == "icechunk"
    delayed = ds.to_zarr(  # type: ignore[call-overload]
        store,
        mode=plan.mode if plan.target.in_place or icechunk else "w-",
        group=plan.group,
        compute=False,
        # in place, once, after the data and the provenance: see _stamp
        consolidated=False if plan.target.in_place else plan.consolidated,
        # a new store or group is made whole: "a" where nothing was appends to nothing
        append_dim=plan.append_dim if plan.target.existing is not None else None,
        region=plan.region,
        safe_chunks=plan.safe_chunks,
        align_chunks=plan.align_chunks,
        write_empty_chunks=plan.write_empty_chunks,
        chunkmanager_store_kwargs=dict(plan.chunkmanager_store_kwargs),
        zarr_format=plan.target.zarr_format,
    )
    if plan.template:
        return line  # the dask data is left to the fill (see xzarrio.writing.fill_plan)
    run_tasks(delayed, plan.scheduler, plan.num_workers, plan.progress, gate)
    return line


def _stamp(plan: WritePlan, store: GuardedStore, line: str) -> str:
    """In place: stamp the provenance after the data, consolidate; return the history line.

    A group new to the store got its provenance with its metadata (*line*).
    """
    if plan.provenance and plan.target.existing is not None:
        group = zarr.open_group(store, mode="r+", path=plan.group or "")
        now = now_utc()
        group.attrs.put(attrs_for_modified_store(group.attrs.asdict(), plan.call, plan.text, now))
        line = history_line(plan.call, plan.text, now)
    if plan.consolidated is not False and store.supports_consolidated_metadata:
        # the root's consolidated metadata holds the groups' too
        for path in dict.fromkeys(("", plan.group or "")):
            zarr.consolidate_metadata(store, path=path)
    return line


def run_tasks(delayed: Any, scheduler: Any, num_workers: int, progress: bool, gate: Gate) -> None:
    """Run the tasks of *delayed* and wait for every one of them; after a failure, close
    *gate* (the store calls the tasks make pass through it) and wait until none is in flight."""
    if is_distributed_client(scheduler):
        _run_on_client(scheduler, delayed, progress, gate)
        return
    try:
        _run_locally(delayed, scheduler, num_workers, progress)
    except BaseException:
        gate.close()
        gate.drain()  # zarr's sibling chunk writes of a failed one may still be in flight
        raise


def _pool(scheduler: Any, num_workers: int) -> Executor:
    if scheduler == "processes":
        context = multiprocessing.get_context(dask.config.get("multiprocessing.context", "spawn"))
        return ProcessPoolExecutor(num_workers, mp_context=context)
    return ThreadPoolExecutor(num_workers, thread_name_prefix="xzarrio-write")


def _run_locally(delayed: Any, scheduler: Any, num_workers: int, progress: bool) -> None:
    """Run the chunk tasks on a pool of this write's own, and wait for every one."""
    kwargs: dict[str, Any] = {"scheduler": scheduler}
    if scheduler != "synchronous":
        kwargs["pool"] = _pool(scheduler, num_workers)
    try:
        with progress_bar(progress):
            dask.compute(delayed, **kwargs)
    finally:
        if "pool" in kwargs:
            # after a failure, the tasks still running finish before the rollback
            kwargs["pool"].shutdown(wait=True, cancel_futures=True)


def _run_on_client(client: Any, delayed: Any, progress: bool, gate: Gate) -> None:
    """Run the write on the cluster; after a failure, wait for every store call on it.

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
        gate.drop_digests()
        raise


@contextmanager
def progress_bar(show: bool) -> Iterator[None]:
    """dask's progress bar on stderr while the block runs, if *show*."""
    if not show:
        with nullcontext():
            yield
        return
    from dask.diagnostics import ProgressBar

    with ProgressBar(out=sys.stderr):
        yield
