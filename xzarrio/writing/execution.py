"""Carry out a write plan: the data, then the provenance, inside a transaction.

xarray's own zarr backend writes the metadata and builds the chunk writes
(``to_zarr(compute=False)``); xzarrio runs those tasks itself, on its own
pool or as futures of a ``distributed.Client``
(:func:`xzarrio.running.run_tasks`), so that it knows when every one of them
has ended. A :class:`Write` is one write under way: begun, its chunk writes a
dask graph, then ended (committed) or aborted (rolled back).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from typing import Any, NoReturn

from ..codecs import quiet_spec_notes
from ..errors import WriteInProgressError
from ..journal import Generation
from ..provenance import PROVENANCE_KEYS, attrs_for_new_store, history_line, now_utc
from ..running import Gate, is_distributed_client, run_tasks
from ..seams import sync
from ..stores import group_attributes
from .guard import GuardedStore
from .manifests import TrustedManifests, record_manifests
from .plan import WritePlan
from .recheck import StoreMovedOn, begin_checked, mark_written
from .report import WriteReport, report_of
from .shared import hold_shared_chunks

__all__ = ["Write", "execute", "execute_checked"]

#: how often a write is checked again when other writers overtake it
_ATTEMPTS = 20


def execute(plan: WritePlan) -> WriteReport:
    """Write what *plan* says, all or nothing, and report on it."""
    with quiet_spec_notes():
        write = Write(plan)
        write.begin()
        write.build()
        return write.run()


def execute_checked(plan: WritePlan, plan_again: Callable[[], WritePlan]) -> WriteReport:
    """:func:`execute` *plan*; where other writers changed the store between its checks
    and its lock, check it again (``plan_again()``) and write that plan."""
    for _ in range(_ATTEMPTS):
        try:
            return execute(plan)
        except StoreMovedOn:
            plan = plan_again()
    raise WriteInProgressError(
        f"other writers changed {plan.target.location.shown} {_ATTEMPTS} times between this "
        "write's checks and its turn; nothing was written: try it again"
    )


class Write:
    """One write of *plan*: :meth:`begin` its transaction, :meth:`build` the metadata
    and the graph of the chunk writes, :meth:`run` them, :meth:`end` with the commit;
    after a failure at any step, :meth:`abort`."""

    def __init__(self, plan: WritePlan) -> None:
        self.plan = plan
        self.started = time.perf_counter()
        client = plan.scheduler if is_distributed_client(plan.scheduler) else None
        self.gate = Gate(client)
        self.transaction = plan.target.transaction(
            mode=plan.mode, operation=plan.operation, gate=self.gate
        )
        #: the store the write goes through (:meth:`begin`, or a waiting one)
        self.store = GuardedStore(plan.target.location.zarr_store(), self.gate, None, waiting=True)
        #: the history line, and the chunk writes (:meth:`build`)
        self.line = plan.operation
        self.chunk_writes: Any = None
        #: the chunk locks of a region write that covers stored chunks in part
        self._held = ExitStack()
        #: the generations an in-place write gave the arrays it changes (:meth:`begin`)
        self.begun: dict[str, Generation] = {}
        #: the manifests it checked then, where they hold until its end
        self.checked: TrustedManifests | None = None

    def begin(self) -> None:
        """Begin the transaction; from now on the write goes through its store (the
        waiting store, if :meth:`build` was called on it first). An in-place write
        that another writer overtook since its checks raises :class:`StoreMovedOn`."""
        try:
            self.store = self.transaction.begin(self.store)
            if self.plan.target.existing is not None:  # under the lock or the journal
                self.begun, self.checked = begin_checked(self.plan, self.store)
            if self.transaction.journal is not None:
                for reader in self.plan.readers:  # reading what this write does not change
                    reader.let_through(str(self.transaction.journal.record["id"]))
            if self.store.holds_writes:  # a deferred fill's: no trip to zarr's loop else
                sync(self.store.release_held())
            self._held.enter_context(
                hold_shared_chunks(
                    self.plan.shared, self.plan.target.location, self.plan.group,
                    self.transaction.journal,
                )
            )  # fmt: skip
        except BaseException as error:
            self.abort(error)

    def build(self) -> None:
        """Write the metadata through xarray and build the graph of the chunk writes
        (data written in xarray's own call have none)."""
        try:
            with self.store.holding():
                self.line, self.chunk_writes = _write_metadata(self.plan, self.store)
        except BaseException as error:
            self.abort(error)

    def run(self) -> WriteReport:
        """Run the chunk writes on the plan's scheduler, then :meth:`end`."""
        plan = self.plan
        try:
            # a template's dask data is left to its fill; data written in xarray's
            # call (plan.in_one_call) have no task left
            if not (plan.template or plan.in_one_call):
                run_tasks(
                    self.chunk_writes, plan.scheduler, plan.num_workers, plan.progress, self.gate
                )
        except BaseException as error:
            self.abort(error)
        return self.end()

    def end(self) -> WriteReport:
        """After the chunk writes: the manifests, the provenance, the commit; the report.

        A failure in any of these steps rolls the write back; where the rollback
        fails too, :class:`~xzarrio.errors.InterruptedWriteError` names ``repair``.
        """
        plan = self.plan
        step = "the end of its chunk writes"
        try:
            self._held.close()
            self.transaction.finish()
            step = "its manifests"
            recorded = record_manifests(plan, self.store, self.gate, self.checked)
            step = "its provenance stamp or consolidated metadata"
            stamping = replace(plan.stamping, arrays=recorded.arrays)
            stamped = self.transaction.stamp(self.store, stamping, self.line, recorded.attributes)
            mark_written(plan, self.store, self.begun)
            step = "its commit"
            self.transaction.commit(stamped.line)  # raises only where it can still be undone
        except BaseException as error:
            if self.transaction.committed:  # an interrupt while clearing up: it stands
                error.add_note(f"the write to {plan.target.location.shown} is committed")
                raise
            self.abort(error, step=step)
        # a new store holds exactly what was written, if all of it was written here
        local = plan.scheduler in ("threads", "synchronous") and not plan.target.in_place
        written = self.store.written if local else None
        return report_of(
            plan, self.started, self.transaction.snapshot_id, written, stamped=stamped.group
        )

    def abandon(self) -> None:
        """Undo a write that was begun and will never end (its ``Delayed`` dropped)."""
        self.gate.close()
        self.gate.drain()
        try:
            self._held.close()
        finally:
            self.transaction.rollback()

    def abort(self, error: BaseException, *, step: str | None = None) -> NoReturn:
        """Undo the write after *error*, and raise it; *step* names the step after the
        data that failed (see :meth:`xzarrio.writing.transactions.Transaction.abort`)."""
        self.gate.close()
        self.gate.drain()  # before the chunk locks go: no write of a shared chunk lands after
        try:
            self._held.close()
        finally:
            self.transaction.abort(error, step=step)


def _write_metadata(plan: WritePlan, store: GuardedStore) -> tuple[str, Any]:
    """The metadata through xarray; return the history line and the chunk writes
    (for data xarray writes in its own call, :attr:`WritePlan.in_one_call`, none
    are left: the store xarray wrote).

    A new store gets its provenance with its metadata, stamped now, and
    xarray consolidates it.
    """
    ds = plan.ds.copy(deep=False)
    line = plan.operation
    if plan.target.existing is None:
        if plan.provenance:
            now = now_utc()
            text = plan.request.stamp.history
            ds.attrs = attrs_for_new_store(ds.attrs, plan.call, text, now)
            line = history_line(plan.call, text, now)
    elif plan.mode != "r+":
        # xarray puts the Dataset's attributes on the group (mode "a"; "r+" leaves
        # them): give it the store's own, read now (a deferred write runs after others),
        # updated with the Dataset's in mode "a" as in xarray (which drops those the
        # Dataset lacks); the store's provenance stays ('coordinates' is xarray's)
        found = sync(group_attributes(store, plan.group))
        attrs = dict(found[1]) if found else {}
        if plan.mode in ("a", "a-"):
            attrs.update({k: v for k, v in ds.attrs.items() if k not in PROVENANCE_KEYS})
        ds.attrs = {k: v for k, v in attrs.items() if k != "coordinates"}
    chunk_writes = ds.to_zarr(  # type: ignore[call-overload]
        store,
        group=plan.group,
        compute=plan.in_one_call,
        region=plan.region,
        zarr_format=plan.target.zarr_format,
        **plan.target.to_zarr_keywords(plan.request),
        **plan.passed_on,
    )
    return line, chunk_writes
