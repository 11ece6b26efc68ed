"""One write, all or nothing: a transaction per kind of target.

Every transaction has the same three steps: :meth:`Transaction.begin` gives
the store to write through, :meth:`Transaction.commit` makes the write
visible, :meth:`Transaction.rollback` leaves the target as it was. Used as a
context manager it commits when its body succeeds; when the body fails it
closes the write's gate, waits for every store call in flight, and rolls
back, keeping the original error (a rollback's own failure is chained to it).

- :class:`NewLocalStore`: staged in a folder beside the target, swapped in.
- :class:`NewObjectStore`: staged beside the target (an object store's
  sibling prefix, or memory), then copied into place under a journal.
- :class:`InPlaceLocal`, :class:`InPlaceObject`: the store changed in place
  under an undo journal (see :mod:`xzarrio.journal`); local ones under locks.
- :class:`IcechunkSession`: the session committed once, or its changes discarded.

:func:`open_transaction` is the one place that picks among them.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import NoReturn

import zarr
from zarr.abc.store import Store
from zarr.core.sync import sync

from ..atomic import open_staging, remove_staging, staging_suffix, swap_in
from ..errors import StoreExistsError, StoreNotWritableError
from ..journal import (
    Journal,
    begin_journal,
    check_store,
    gather_bounded,
    journals,
    metadata_lock,
    store_lock,
)
from ..liveness import LEASE_SECONDS
from ..stores import ZARR_MARKERS, Location
from .guard import ForkedStore, Gate, GuardedStore, scheduler_time

__all__ = ["Transaction", "open_transaction"]


class Transaction(ABC):
    """The all-or-nothing frame of one write (see the module's docstring)."""

    def __init__(self, location: Location, *, mode: str, operation: str, gate: Gate) -> None:
        self.location = location
        self.mode = mode
        self.operation = operation
        self.gate = gate
        #: what the commit is called (icechunk's commit message): the history line
        self.message = operation
        #: the icechunk snapshot the commit made
        self.snapshot_id: str | None = None

    @abstractmethod
    def begin(self) -> GuardedStore:
        """Start; return the store that every write of this transaction goes through."""

    @abstractmethod
    def commit(self) -> None:
        """Make the write the store's new state."""

    @abstractmethod
    def rollback(self) -> None:
        """Leave the target exactly as it was before :meth:`begin`."""

    def finish(self) -> None:  # noqa: B027 - most transactions need nothing then
        """Called before the root's attributes and consolidated metadata are updated."""

    def __enter__(self) -> GuardedStore:
        return self.begin()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self.commit()
            return
        self.gate.close()
        self.gate.drain()  # no store call of this write runs on, or lands, after this
        _undo(self.rollback, error, self.location)


def _undo(rollback: Callable[[], None], error: BaseException, location: Location) -> NoReturn:
    """Roll back after *error* and raise it; a rollback that fails is chained to it."""
    try:
        rollback()
    except BaseException as failure:
        error.add_note(
            f"xzarrio could not roll {location.shown} back ({failure!r}); its journal is "
            f"kept: run xzarrio.repair({location.shown}) once the cause is gone"
        )
        raise error from failure
    raise error


# ------------------------------------------------------------------ new stores


class NewLocalStore(Transaction):
    """A new local store: written in a staging folder beside it, swapped in whole."""

    def begin(self) -> GuardedStore:
        assert self.location.path is not None
        self.staging, self.made = open_staging(self.location.path)
        return GuardedStore(zarr.storage.LocalStore(self.staging), self.gate, None)

    def commit(self) -> None:
        assert self.location.path is not None
        try:
            swap_in(self.staging, self.location.path, replace=self.mode == "w")
        except BaseException:
            remove_staging(self.staging, self.made)
            raise

    def rollback(self) -> None:
        remove_staging(self.staging, self.made)


class NewObjectStore(Transaction):
    """A new store in an object store or a store object.

    Where nothing is at the store's place yet, it is written in place under a
    journal that says so: a rollback deletes all of it. Over an existing
    store it is staged beside it (a sibling prefix, or memory), then copied
    into place under an undo journal, so that a failure at any point puts the
    old store back. Readers may see a mix while either runs.
    """

    def begin(self) -> GuardedStore:
        target = self.location.zarr_store()
        self.journal: Journal | None = None
        if not sync(_holds_keys(target)):
            self.journal = begin_journal(self.location, self.operation, fresh=True)
            self._lease = _LeaseKeeper(self.journal)
            return GuardedStore(target, self.gate, self.journal)
        if self.mode != "w":
            raise StoreExistsError(
                f"{self.location.shown} is not empty (a store appeared there meanwhile, or "
                f"other objects are there); mode={self.mode!r} makes a store only where "
                "nothing is"
            )
        if self.location.kind == "fsspec":
            self.staging = self.location.sibling(staging_suffix()).zarr_store()
        else:
            self.staging = zarr.storage.MemoryStore()
        return GuardedStore(self.staging, self.gate, None)

    def commit(self) -> None:
        if self.journal is not None:  # written in place
            self._lease.stop()
            self.journal.discard()
            return
        journal = begin_journal(self.location, self.operation)
        lease = _LeaseKeeper(journal)
        target = GuardedStore(self.location.zarr_store(), Gate(), journal)
        try:
            try:
                sync(_install(self.staging, target))
            except BaseException as error:
                lease.stop()
                _undo(journal.playback, error, self.location)
            lease.stop()
            journal.discard()
        finally:
            sync(self.staging.delete_dir(""))

    def rollback(self) -> None:
        if self.journal is not None:
            self._lease.stop()
            self.journal.playback()
        else:
            sync(self.staging.delete_dir(""))


async def _holds_keys(store: Store) -> bool:
    async for _ in store.list():
        return True
    return False


async def _install(staging: Store, target: GuardedStore) -> None:
    """Make *target* hold exactly the keys of *staging*."""
    new = {key async for key in staging.list()}
    old = {key async for key in target.list()}
    # metadata last, so that a reader never finds new metadata over old chunks
    chunks = sorted(k for k in new if k.rsplit("/", 1)[-1] not in ZARR_MARKERS)
    await gather_bounded(target.copy_in(staging, key) for key in chunks)
    await gather_bounded(target.delete(key) for key in sorted(old - new))
    await gather_bounded(target.copy_in(staging, key) for key in sorted(new - set(chunks)))


# ------------------------------------------------------------------ in place


class InPlaceLocal(Transaction):
    """An append or region write to a local store, under its lock and an undo journal.

    Appends (and writes adding variables) hold the store's lock exclusively;
    region writes hold it shared, so that writers of disjoint regions run side
    by side, and take the metadata lock from the root's update to the end.
    """

    def begin(self) -> GuardedStore:
        assert self.location.path is not None
        self._locks = ExitStack()
        self._locks.enter_context(store_lock(self.location.path, shared=self.mode == "r+"))
        try:
            check_store(self.location, writing=True)  # under the lock: no writer starts now
            self.journal = begin_journal(self.location, self.operation)
        except OSError as error:
            self._locks.close()
            raise StoreNotWritableError(
                f"cannot write to {self.location.shown}: its folder takes no new entries "
                f"({error.strerror})"
            ) from None
        except BaseException:
            self._locks.close()
            raise
        return GuardedStore(zarr.storage.LocalStore(self.location.path), self.gate, self.journal)

    def finish(self) -> None:
        # held to the commit or rollback: another writer's stamp must not come
        # between this one and its undoing
        assert self.location.path is not None
        self._locks.enter_context(metadata_lock(self.location.path))

    def commit(self) -> None:
        with self._locks:
            self.journal.discard()

    def rollback(self) -> None:
        with self._locks:
            self.journal.playback()


class InPlaceObject(Transaction):
    """An append or region write to an object store or a store object, under a journal.

    Object stores have no locks: the journal carries a lease that this writer
    refreshes, so that another writer (or ``repair``) can tell it is alive.
    """

    def begin(self) -> GuardedStore:
        check_store(self.location, writing=True)
        if self.mode in ("a", "a-"):
            for journal in journals(self.location):
                if journal.alive:
                    from ..errors import WriteInProgressError

                    raise WriteInProgressError(
                        f"another write to {self.location.shown} ({journal.operation}) is "
                        "running; an append must run alone"
                    )
        self.journal = begin_journal(self.location, self.operation)
        self._lease = _LeaseKeeper(self.journal)
        return GuardedStore(self.location.zarr_store(), self.gate, self.journal)

    def commit(self) -> None:
        self._lease.stop()
        self.journal.discard()

    def rollback(self) -> None:
        self._lease.stop()
        self.journal.playback()


class _LeaseKeeper:
    """Refreshes a journal's lease every third of its length until stopped."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="xzarrio-lease")
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(LEASE_SECONDS / 3):
            try:
                self._journal.refresh()
            except Exception:  # a missed refresh only shortens the lease
                continue

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


# ------------------------------------------------------------------ icechunk


class IcechunkSession(Transaction):
    """A write to an ``icechunk.Session``: committed once on success, discarded on failure.

    On a Client the write goes to a fork of the session, which travels to the
    workers with the tasks; the forks they wrote into are merged back into
    the session before the commit.
    """

    def begin(self) -> GuardedStore:
        session = self.location.given
        if self.gate.client is None:
            return GuardedStore(session.store, self.gate, None)
        self.fork_store = session.fork().store
        self.since = scheduler_time(self.gate.client)
        return ForkedStore(self.fork_store, self.gate, None)

    def commit(self) -> None:
        session = self.location.given
        if self.gate.client is not None:
            # the workers' copies hold the metadata as it was when the tasks left;
            # this process's fork, with the provenance stamped after, goes last
            stores = self.gate.gather_forks(self.since)
            copies = [store.session for store in stores if store is not self.fork_store]
            session.merge(*copies, self.fork_store.session)
        self.snapshot_id = str(session.commit(self.message))

    def rollback(self) -> None:
        self.gate.drop_forks()
        self.location.given.discard_changes()


def open_transaction(
    location: Location, *, in_place: bool, mode: str, operation: str, gate: Gate
) -> Transaction:
    """The transaction for a write to *location*: the one branch on the kind of target."""
    kind: type[Transaction]
    if location.kind == "icechunk":
        kind = IcechunkSession
    elif in_place:
        kind = InPlaceLocal if location.kind == "local" else InPlaceObject
    else:
        kind = NewLocalStore if location.kind == "local" else NewObjectStore
    return kind(location, mode=mode, operation=operation, gate=gate)
