"""One write, all or nothing: a transaction per kind of target.

Every transaction has the same steps: :meth:`Transaction.begin` gives the
store to write through; after the data, :meth:`Transaction.finish` and
:meth:`Transaction.stamp`; :meth:`Transaction.commit` makes the write
visible. After a failure, :meth:`Transaction.abort` closes the write's gate,
waits for every store call in flight, and rolls back
(:meth:`Transaction.rollback`), keeping the original error (a rollback's own
failure is chained to it). A commit raises only while the write can still be
rolled back; past its commit point a failure to clear up is a warning that
says the write is committed. Where a step after the data fails and so does
its rollback, :class:`~xzarrio.errors.InterruptedWriteError` names ``repair``.

- :class:`StagedFolder`: a new local store, staged in a folder beside it, swapped in.
- :class:`StagedPrefix`: a new store in an object store or a store object,
  written in place where nothing is, else staged beside it (an object store's
  sibling prefix, or memory), then copied into place under a journal.
- :class:`InPlaceLocal`, :class:`InPlaceObject`: the store changed in place
  under an undo journal (see :mod:`xzarrio.journal`); local ones under locks.
- :class:`IcechunkCommit`: the session committed once, or its changes discarded.

Each kind of :class:`~xzarrio.writing.target.Target` makes its own.
"""

from __future__ import annotations

import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import zarr
from zarr import AsyncGroup
from zarr.abc.store import Store
from zarr.api import asynchronous as zarr_async
from zarr.buffer import default_buffer_prototype

from ..atomic import open_staging, remove_staging, staging_suffix, swap_in
from ..errors import (
    InterruptedWriteError,
    StoreChangedError,
    StoreExistsError,
    StoreNotWritableError,
    WriteInProgressError,
)
from ..journal import (
    Journal,
    begin_journal,
    check_store,
    gather_bounded,
    metadata_lock,
    store_lock,
)
from ..liveness import LEASE_SECONDS
from ..provenance import attrs_for_modified_store, history_line, now_utc
from ..running import Gate
from ..seams import sync, with_consolidated_copy
from ..stores import ZARR_MARKERS, LocalFolder, Location, ZarrFormat, delete_under, first_write
from .guard import ForkedStore, GuardedStore, drop_worker_state, gather_forks, scheduler_time

__all__ = [
    "IcechunkCommit",
    "InPlaceLocal",
    "InPlaceObject",
    "StagedFolder",
    "StagedPrefix",
    "Stamped",
    "Stamping",
    "Transaction",
    "stamp_in_place",
]


class Transaction(ABC):
    """The all-or-nothing frame of one write (see the module's docstring).

    A write calls :meth:`begin`, writes through the store it returns, calls
    :meth:`finish` and :meth:`stamp` after its data, then :meth:`commit`; after
    a failure anywhere, :meth:`abort`.
    """

    def __init__(self, location: Location, *, mode: str, operation: str, gate: Gate) -> None:
        self.location = location
        self.mode = mode
        self.operation = operation
        self.gate = gate
        #: the undo journal the write's keys are kept in, where it has one
        self.journal: Journal | None = None
        #: the icechunk snapshot the commit made
        self.snapshot_id: str | None = None
        #: set where the commit point has passed without a journal to say so
        self._committed = False

    @property
    def committed(self) -> bool:
        """Whether the commit point has passed: from then on the write stands, and
        nothing of it is rolled back (an interrupt while clearing up included)."""
        return self._committed or (self.journal is not None and self.journal.removed)

    @abstractmethod
    def begin(self, waiting: GuardedStore) -> GuardedStore:
        """Start; return the store that every write of this transaction goes through.

        *waiting* is a store over the target's own store that takes no writes
        yet (a deferred write builds its graph on it): a transaction that
        writes the target in place gives it its journal and returns it.
        """

    @abstractmethod
    def commit(self, message: str) -> None:
        """Make the write the store's new state; *message* names it (the history line).

        Raises only before the commit point, where :meth:`rollback` can still undo
        the write; past it, a failure to clear up is a ``RuntimeWarning``.
        """

    @abstractmethod
    def rollback(self) -> None:
        """Leave the target exactly as it was before :meth:`begin`."""

    def finish(self) -> None:  # noqa: B027 - most transactions need nothing then
        """Called after the data, before the manifests, attributes and consolidated
        metadata are updated."""

    def stamp(
        self, store: GuardedStore, stamping: Stamping, line: str, recorded: Mapping[str, Any]
    ) -> Stamped:
        """Stamp the provenance of a store changed in place, after its data, with the
        group's *recorded* attributes (its record of manifests), and consolidate its
        metadata. A new store got its provenance and consolidated metadata with its
        metadata (*line*): it gets *recorded* now."""
        return Stamped(line, add_recorded(store, stamping, recorded))

    def abort(self, error: BaseException, *, step: str | None = None) -> NoReturn:
        """After *error*: refuse every store call of the write, wait for those in
        flight, roll back, and raise *error* (a rollback's own failure chained to it).

        *step* names the step after the data that failed (the manifests, the
        stamp, the commit): if its rollback fails too, the error raised is an
        :class:`~xzarrio.errors.InterruptedWriteError` naming ``repair``.
        """
        self.gate.close()
        self.gate.drain()  # no store call of this write runs on, or lands, after this
        try:
            _undo(self.rollback, error, self.location, step=step)
        finally:
            _let_go_of_worker_state(self.gate, error)


def _let_go_of_worker_state(gate: Gate, error: BaseException) -> None:
    """Drop what the workers kept for a failed write; a failure to is a note on *error*."""
    try:
        drop_worker_state(gate)
    except Exception as failure:
        error.add_note(f"xzarrio could not clear the workers' state of this write: {failure!r}")


def _undo(
    rollback: Callable[[], None], error: BaseException, location: Location, *, step: str | None
) -> NoReturn:
    """Roll back after *error* and raise it; a rollback that fails is chained to it.

    After a failure in *step* (after the data), a rollback that fails raises
    :class:`~xzarrio.errors.InterruptedWriteError` (from *error*) naming
    ``repair``, and one that succeeds notes that the store is as it was.
    """
    shown = location.shown
    try:
        rollback()
    except BaseException as failure:
        if step is not None and isinstance(error, Exception):
            raise InterruptedWriteError(
                f"the write to {shown} failed in {step} ({error!r}) and could not be rolled "
                f"back ({failure!r}); the store is half-written and its journal kept: run "
                f"xzarrio.repair({shown}) once the cause is gone, to put it back as it was"
            ) from error
        error.add_note(
            f"xzarrio could not roll {shown} back ({failure!r}); its journal is "
            f"kept: run xzarrio.repair({shown}) once the cause is gone"
        )
        raise error from failure
    if step is not None:
        error.add_note(f"xzarrio rolled the write back after {step} failed: {shown} is as it was")
    raise error


def _committed_but(location: Location, what: str, error: BaseException, hint: str) -> None:
    """Warn that a committed write left *what* behind, which could not be removed."""
    warnings.warn(
        f"the write to {location.shown} is committed, but {what} could not be removed "
        f"({error!r}); nothing reads it: {hint}",
        RuntimeWarning,
        stacklevel=5,
    )


@dataclass(frozen=True)
class Stamping:
    """What a store changed in place is stamped with after its data."""

    #: the operation as the history line records it, and the user's note
    call: str
    text: str | None
    #: whether the group's provenance attributes are updated (off, or a group new
    #: to the store, which got them with its metadata)
    attributes: bool
    #: the group written, or None for the root
    group: str | None
    #: xarray's ``consolidated=``: False leaves the metadata unconsolidated
    consolidated: bool | None
    #: the store's zarr format: a group of a known format is opened in one read
    zarr_format: ZarrFormat
    #: whether every array the write touched kept its metadata (a region write of
    #: variables the store has): their consolidated copies still hold
    arrays_kept: bool = False
    #: the names of the group's nodes once written, and the arrays the write changed,
    #: opened after its data (None: not opened), by name: where they are all the nodes,
    #: the consolidated copy is made of them, not of the arrays read again
    nodes: frozenset[str] = frozenset()
    arrays: Mapping[str, zarr.Array[Any]] | None = None


@dataclass(frozen=True)
class Stamped:
    """What a stamp wrote: the history line, and the group as it left it (None where
    it did not open it), whose metadata the write's report reads."""

    line: str
    group: zarr.Group | None


def stamp_in_place(
    store: GuardedStore, stamping: Stamping, line: str, recorded: Mapping[str, Any]
) -> Stamped:
    """Stamp the provenance of a store changed in place, with the *recorded* attributes,
    in one write of the group's attributes, and consolidate its metadata (one trip to
    zarr's event loop). The history line is *line* where the provenance is not updated."""
    return sync(_stamp_in_place(store, stamping, line, recorded))


async def _stamp_in_place(
    store: GuardedStore, stamping: Stamping, line: str, recorded: Mapping[str, Any]
) -> Stamped:
    group = None
    consolidating = stamping.consolidated is not False and store.supports_consolidated_metadata
    held = consolidating and _holds_every_node(stamping)
    if stamping.attributes or recorded or held:
        # the consolidated copy read (made objects of) only where it may be kept
        remade = consolidating and (bool(stamping.group) or not stamping.arrays_kept)
        group = await _open_stamped(store, stamping, use_consolidated=False if remade else None)
        attrs = dict(group.attrs) | dict(recorded)
        if stamping.attributes:
            now = now_utc()
            attrs = attrs_for_modified_store(attrs, stamping.call, stamping.text, now)
            line = history_line(stamping.call, stamping.text, now)
        if held:  # saved with the attributes, in one write of the group's metadata
            group = with_consolidated_copy(group, stamping.arrays or {})
        group.metadata.attributes.clear()  # all of them replaced, as zarr's attrs.put does
        group = await group.update_attributes(attrs)
    if consolidating and not held and not _still_consolidated(group, stamping):
        # the root's consolidated metadata holds the groups' too
        for path in dict.fromkeys(("", stamping.group or "")):
            group = await _consolidate(store, path, stamping)  # the written group last
    return Stamped(line, None if group is None else zarr.Group(group))


def _holds_every_node(stamping: Stamping) -> bool:
    """Whether the arrays the write holds are every node of the root group it wrote
    (zarr format 3, whose consolidated copy holds no attributes of the root)."""
    arrays = stamping.arrays
    return (
        arrays is not None
        and not stamping.group
        and stamping.zarr_format == 3
        and set(arrays) == stamping.nodes
    )


def add_recorded(
    store: GuardedStore, stamping: Stamping, recorded: Mapping[str, Any]
) -> zarr.Group | None:
    """Add the *recorded* attributes to the group of a new store, whose provenance and
    consolidated metadata were written with its metadata; consolidate a nested group's
    again (the root's consolidated metadata holds its attributes). Return the group
    as it left it (None, with nothing to add). One trip to zarr's event loop."""
    if not recorded:
        return None
    group = sync(_add_recorded(store, stamping, recorded))
    return zarr.Group(group)


async def _add_recorded(
    store: GuardedStore, stamping: Stamping, recorded: Mapping[str, Any]
) -> AsyncGroup:
    group = await _open_stamped(store, stamping)
    group = await group.update_attributes(dict(recorded))
    if stamping.group and stamping.consolidated is not False:
        if store.supports_consolidated_metadata:
            for path in ("", stamping.group):
                group = await _consolidate(store, path, stamping)
    return group


async def _open_stamped(
    store: GuardedStore, stamping: Stamping, use_consolidated: bool | None = None
) -> AsyncGroup:
    """The group the stamp writes, opened for writing (*use_consolidated* as in zarr)."""
    return await zarr_async.open_group(
        store, mode="r+", path=stamping.group or "", zarr_format=stamping.zarr_format,
        use_consolidated=use_consolidated,
    )  # fmt: skip


async def _consolidate(store: GuardedStore, path: str, stamping: Stamping) -> AsyncGroup:
    """The metadata under the group *path* consolidated; that group, as it now is."""
    return await zarr_async.consolidate_metadata(store, path=path, zarr_format=stamping.zarr_format)


def _still_consolidated(stamped: AsyncGroup | None, stamping: Stamping) -> bool:
    """Whether the root's consolidated metadata still holds after its attributes were
    stamped through *stamped*: zarr format 3 keeps it beside the root's own
    attributes (which it does not copy), and a write that kept every array's
    metadata changed nothing else it holds."""
    return (
        stamped is not None
        and not stamping.group
        and stamping.arrays_kept
        and stamped.metadata.zarr_format == 3
        and stamped.metadata.consolidated_metadata is not None
    )


# ------------------------------------------------------------------ new stores


class StagedFolder(Transaction):
    """A new local store: written in a staging folder beside it, swapped in whole."""

    def __init__(self, location: LocalFolder, *, mode: str, operation: str, gate: Gate) -> None:
        super().__init__(location, mode=mode, operation=operation, gate=gate)
        self.folder = location
        self.root = location.root
        #: the staging folder, and the folders made for it (removed with it)
        self.staging: Path | None = None
        self.made: list[Path] = []

    def begin(self, waiting: GuardedStore) -> GuardedStore:
        self.staging, self.made = open_staging(self.root)
        # through wrappers made as the user's were, as the in-place writes go through theirs
        return GuardedStore(self.folder.store_at(self.staging), self.gate, None)

    def commit(self, message: str) -> None:
        assert self.staging is not None
        # one rename, the commit point; a failure leaves the old store, and the
        # rollback removes the staging folder
        swap_in(self.staging, self.root, replace=self.mode == "w")
        self._committed = True
        remove_staging(self.staging)

    def rollback(self) -> None:
        if self.staging is not None:
            remove_staging(self.staging, self.made)


class StagedPrefix(Transaction):
    """A new store in an object store or a store object.

    Where nothing is at the store's place yet, it is written in place under a
    journal that says so: a rollback deletes all of it. Over an existing
    store it is staged beside it (a sibling prefix, or memory), then copied
    into place under an undo journal, so that a failure at any point puts the
    old store back. Readers may see a mix while either runs.
    """

    def __init__(self, location: Location, *, mode: str, operation: str, gate: Gate) -> None:
        super().__init__(location, mode=mode, operation=operation, gate=gate)
        #: where a new store over an existing one is staged (None: written in place)
        self.staging: Store | None = None
        self.lease: _LeaseKeeper | None = None

    def begin(self, waiting: GuardedStore) -> GuardedStore:
        if not sync(_holds_keys(self.location.zarr_store())):
            self.journal = begin_journal(self.location, self.operation, fresh=True)
            self.lease = _LeaseKeeper(self.journal)
            return waiting.attach(self.journal)
        if self.mode != "w":
            raise StoreExistsError(
                f"{self.location.shown} is not empty (a store appeared there meanwhile, or "
                f"other objects are there); mode={self.mode!r} makes a store only where "
                "nothing is"
            )
        beside = self.location.beside(staging_suffix())
        if beside is None:
            self.staging = zarr.storage.MemoryStore()
        else:
            self.staging = beside.zarr_store()
            _check_takes_writes(self.location, self.staging)
        return GuardedStore(self.staging, self.gate, None)

    def commit(self, message: str) -> None:
        if self.staging is None:  # written in place
            _end(self.journal, self.lease)
            return
        # copied into place under a journal, which the rollback plays back
        self.journal = begin_journal(self.location, self.operation)
        self.lease = _LeaseKeeper(self.journal)
        target = GuardedStore(self.location.zarr_store(), Gate(), self.journal)
        sync(_install(self.staging, target))
        _end(self.journal, self.lease)  # the commit point: the journal's header deleted
        try:
            sync(delete_under(self.staging))
        except Exception as error:
            where = getattr(self.staging, "path", "memory")
            _committed_but(
                self.location, f"its staged copy {where!r}", error,
                f"xzarrio.repair({self.location.shown}) removes it once this process has ended",
            )  # fmt: skip

    def rollback(self) -> None:
        try:
            if self.journal is not None:  # in place, or the copy into place begun
                _end(self.journal, self.lease, play_back=True)
        finally:  # the staged copy goes whatever the journal's end: repair needs none of it
            if self.staging is not None:
                sync(delete_under(self.staging))


def _check_takes_writes(location: Location, staging: Store) -> None:
    """Put one key in *staging* (beside the store at *location*) and delete it again:
    where the bucket takes no writes, the replace is refused before it writes anything.

    Raises
    ------
    xzarrio.errors.StoreNotWritableError
        Where the key is refused; a ``PermissionError``.
    """
    probe = "xzarrio-probe"
    with first_write(location, "stage its replacement"):
        sync(staging.set(probe, default_buffer_prototype().buffer.from_bytes(b"")))
    sync(staging.delete(probe))


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

    def __init__(self, location: LocalFolder, *, mode: str, operation: str, gate: Gate) -> None:
        super().__init__(location, mode=mode, operation=operation, gate=gate)
        self.root = location.root
        #: the store's lock (and from :meth:`finish` on its metadata lock), held to the end
        self.locks = ExitStack()

    def begin(self, waiting: GuardedStore) -> GuardedStore:
        self.locks.enter_context(store_lock(self.root, shared=self.mode == "r+"))
        try:
            check_store(self.location, writing=True)  # under the lock: no writer starts now
            self.journal = begin_journal(self.location, self.operation)
        except OSError as error:
            self.locks.close()
            raise StoreNotWritableError(
                f"cannot write to {self.location.shown}: its folder takes no new entries "
                f"({error.strerror})"
            ) from None
        except BaseException:
            self.locks.close()
            raise
        return waiting.attach(self.journal)

    def finish(self) -> None:
        # held to the commit or rollback: another writer's stamp must not come
        # between this one and its undoing
        self.locks.enter_context(metadata_lock(self.root))

    def stamp(
        self, store: GuardedStore, stamping: Stamping, line: str, recorded: Mapping[str, Any]
    ) -> Stamped:
        return stamp_in_place(store, stamping, line, recorded)

    def commit(self, message: str) -> None:
        assert self.journal is not None
        try:
            self.journal.remove_header()
        finally:  # a failure before the commit point keeps them for the rollback
            if self.committed:
                self.locks.close()
        # after the locks: the next writer need not wait for it, and reads no journal
        # without its header
        self.journal.sweep()

    def rollback(self) -> None:
        with self.locks:
            _end(self.journal, None, play_back=True)


class InPlaceObject(Transaction):
    """An append or region write to an object store or a store object, under a journal.

    Object stores have no locks: the journal carries a lease that this writer
    refreshes, so that another writer (or ``repair``) can tell it is alive.
    """

    def __init__(self, location: Location, *, mode: str, operation: str, gate: Gate) -> None:
        super().__init__(location, mode=mode, operation=operation, gate=gate)
        self.lease: _LeaseKeeper | None = None

    def begin(self, waiting: GuardedStore) -> GuardedStore:
        running = check_store(self.location, writing=True)
        if self.mode in ("a", "a-") and running:
            raise WriteInProgressError(
                f"another write to {self.location.shown} ({running[0].operation}) is "
                "running; an append must run alone"
            )
        self.journal = begin_journal(self.location, self.operation)
        self.lease = _LeaseKeeper(self.journal)
        return waiting.attach(self.journal)

    def stamp(
        self, store: GuardedStore, stamping: Stamping, line: str, recorded: Mapping[str, Any]
    ) -> Stamped:
        return stamp_in_place(store, stamping, line, recorded)

    def commit(self, message: str) -> None:
        _end(self.journal, self.lease)

    def rollback(self) -> None:
        _end(self.journal, self.lease, play_back=True)


def _end(journal: Journal | None, lease: _LeaseKeeper | None, *, play_back: bool = False) -> None:
    """Stop refreshing *lease*; discard *journal*, or play it back."""
    if lease is not None:
        lease.stop()
    if journal is None:
        return
    if play_back:
        journal.playback()
    else:
        journal.discard()


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


class IcechunkCommit(Transaction):
    """A write to an ``icechunk.Session``: committed once on success, discarded on failure.

    On a Client the write goes to a fork of the session, which travels to the
    workers with the tasks; the forks they wrote into are merged back into
    the session before the commit.
    """

    def __init__(
        self, location: Location, *, mode: str, operation: str, gate: Gate, in_place: bool
    ) -> None:
        super().__init__(location, mode=mode, operation=operation, gate=gate)
        self.in_place = in_place
        #: on a Client: the fork the write goes to, and when (on the scheduler's clock)
        self.fork_store: Any = None
        self.since = 0.0

    def begin(self, waiting: GuardedStore) -> GuardedStore:
        session = self.location.given
        if self.gate.client is None:
            return waiting.attach(None)
        self.fork_store = session.fork().store
        self.since = scheduler_time(self.gate.client)
        return ForkedStore(self.fork_store, self.gate, None)

    def stamp(
        self, store: GuardedStore, stamping: Stamping, line: str, recorded: Mapping[str, Any]
    ) -> Stamped:
        if self.in_place:
            return stamp_in_place(store, stamping, line, recorded)
        return super().stamp(store, stamping, line, recorded)

    def commit(self, message: str) -> None:
        session = self.location.given
        if self.gate.client is not None:
            # the workers' copies hold the metadata as it was when the tasks left;
            # this process's fork, with the provenance stamped after, goes last
            stores = gather_forks(self.gate, self.since)
            copies = [store.session for store in stores if store is not self.fork_store]
            session.merge(*copies, self.fork_store.session)
        try:
            self.snapshot_id = str(session.commit(message))
        except Exception as error:
            import icechunk  # a session's own package: there

            if not isinstance(error, icechunk.ConflictError):
                raise
            raise StoreChangedError(
                f"the branch {session.branch!r} moved on since this session was made (another "
                f"writer committed to it), so nothing was committed ({error}); the session's "
                f"changes are discarded: write again through a fresh session, "
                f"repo.writable_session({session.branch!r})"
            ) from error
        self._committed = True

    def rollback(self) -> None:
        self.location.given.discard_changes()
