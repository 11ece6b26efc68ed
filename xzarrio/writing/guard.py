"""The writer owns every write to the store: each one journaled and through a gate.

Every key xarray and zarr write goes through :class:`GuardedStore`, a zarr
store wrapping the real one. It keeps the key in the write's undo journal
before changing it, and it passes through the write's
:class:`~xzarrio.running.gate.Gate`, which counts the store calls in flight
and, once closed, refuses new ones.

A write to an ``icechunk`` session on a Client goes through a
:class:`ForkedStore`: the session's fork travels to the workers with the
tasks, each process keeps the forks it wrote into, and the writer gathers
them (:func:`gather_forks`) to merge them into the session before its
one commit, as icechunk documents for distributed writes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from zarr.abc.store import Store
from zarr.storage import LocalStore, WrapperStore

from ..integrity.checksums import ChecksummedBuffer, write_parts
from ..journal import Journal
from ..running.gate import Gate, RemoteGate, WriteAborted
from ..seams import PARTIAL_SUFFIX, is_zarrs_own_local_set
from ..stores import copy_key

__all__ = [
    "ForkedStore",
    "GuardedStore",
    "drop_worker_state",
    "gather_digests",
    "gather_forks",
    "scheduler_time",
    "workers_left",
]


def scheduler_time(client: Any) -> float:
    """The time now on the clock of the Client's scheduler (its events' clock)."""
    return float(client.run_on_scheduler(time.time))


def workers_left(client: Any, since: float) -> list[str]:
    """The workers the Client's scheduler has removed since *since*, on its clock."""
    return sorted(
        event["worker"]
        for stamp, event in client.get_events("all")
        if stamp >= since and isinstance(event, dict) and event.get("action") == "remove-worker"
    )


#: per abort event, the stores of the icechunk forks written into in this process, by id
_FORKS: dict[str | None, dict[int, Any]] = {}
#: per abort event, the chunk digests the write's tasks recorded in this (worker) process
_DIGESTS: dict[str | None, dict[str, str | None]] = {}
_LOCK = threading.Lock()


def _keep_fork(event_name: str | None, store: Any) -> None:
    with _LOCK:
        _FORKS.setdefault(event_name, {})[id(store)] = store


def _pop_forks(event_name: str | None) -> list[Any]:
    with _LOCK:
        return list(_FORKS.pop(event_name, {}).values())


def _pop_digests(event_name: str | None) -> dict[str, str | None]:
    with _LOCK:
        return _DIGESTS.pop(event_name, {})


def gather_digests(gate: Gate, store: GuardedStore) -> dict[str, str | None]:
    """The chunk digests of the write of *gate*: those *store* kept here, and the workers'."""
    digests = dict(store.digests)
    if gate.client is not None:
        for kept in gate.client.run(_pop_digests, gate.event_name).values():
            digests.update(kept)
    return digests


def drop_worker_state(gate: Gate) -> None:
    """Let go of the digests and icechunk forks the (failed) write of *gate* kept,
    here and on the workers."""
    _pop_forks(gate.event_name)
    if gate.client is not None:
        gate.client.run(_pop_digests, gate.event_name)
        gate.client.run(_pop_forks, gate.event_name)


def gather_forks(gate: Gate, since: float) -> list[Any]:
    """The store of every icechunk fork the write of *gate* wrote into, here and on
    the workers.

    A worker that left the cluster since *since* (:func:`scheduler_time`)
    took the forks of the chunks it wrote with it, so the write has failed:
    raises then.
    """
    forks = _pop_forks(gate.event_name)
    if gate.client is not None:
        for kept in gate.client.run(_pop_forks, gate.event_name).values():
            forks.extend(kept)
        lost = workers_left(gate.client, since)
        if lost:
            raise RuntimeError(
                f"the workers {lost} left the cluster during the write, with the icechunk "
                "changes of the chunks they wrote; nothing is committed: write again"
            )
    return forks


@dataclass
class _Begun:
    """Whether a store's write has begun: its journal, and what it does until then."""

    journal: Journal | None
    waiting: bool
    #: while a waiting store's write is built (:meth:`GuardedStore.holding`): the keys
    #: xarray writes at once (data it holds in memory), written when the write begins
    holding: bool = False
    held: dict[str, Any] = field(default_factory=dict)
    #: begins the write, in the writer's process (:meth:`GuardedStore.begin_on_demand`)
    on_demand: Callable[[], None] | None = None
    #: the begin under way, for the store calls that wait for it
    starting: Future[None] | None = None

    def begin(self) -> Future[None]:
        """Begin the write once, on a thread of its own; the future of it."""
        with _LOCK:
            if self.starting is None:
                assert self.on_demand is not None
                self.starting = _BEGIN.submit(self.on_demand)
            return self.starting

    def __getstate__(self) -> dict[str, Any]:
        # a copy in another process cannot begin the write: there a waiting store
        # refuses its writes (the write's commit could not run there either)
        return {**self.__dict__, "on_demand": None, "starting": None, "held": {}}


#: the thread that begins deferred writes on demand (see :class:`_Begun`)
_BEGIN = ThreadPoolExecutor(1, thread_name_prefix="xzarrio-begin")


class GuardedStore(WrapperStore[Store]):
    """A store whose every change is journaled first and passes through a gate.

    It also keeps the digest of every chunk written through it
    (:class:`~xzarrio.integrity.digests.DigestSink`): in :attr:`digests` in
    the writer's process, and for the writer to gather in a worker's.
    """

    def __init__(
        self,
        store: Store,
        gate: Gate | RemoteGate,
        journal: Journal | None,
        written: dict[str, int] | None = None,
        *,
        waiting: bool = False,
    ) -> None:
        super().__init__(store)
        self._gate = gate
        #: the journal, and whether the store waits for it (:meth:`attach`), shared with
        #: the copies zarr makes of this store (``with_read_only``)
        self._begun = _Begun(journal, waiting)
        #: the size of every key written through this store in this process, by key
        self.written: dict[str, int] = {} if written is None else written
        #: the digest of every chunk written through this store in this process, by key
        self.digests: dict[str, str | None] = {}

    def attach(self, journal: Journal | None) -> GuardedStore:
        """Take writes from now on, each kept in *journal* first; return this store.
        What was held while it waited is written by :meth:`release_held`."""
        self._begun.journal = journal
        self._begun.waiting = False
        return self

    @contextmanager
    def holding(self) -> Iterator[None]:
        """While the block runs, a waiting store keeps what is written to it instead of
        refusing it (xarray writes data it holds in memory as it builds a write's graph)."""
        self._begun.holding = True
        try:
            yield
        finally:
            self._begun.holding = False

    @property
    def holds_writes(self) -> bool:
        """Whether writes held while the store waited are still to be written."""
        return bool(self._begun.held)

    async def release_held(self) -> None:
        """Write what the store held while it waited, now that it takes writes."""
        held, self._begun.held = self._begun.held, {}
        for key, value in held.items():
            await self.set(key, value)

    @property
    def _journal(self) -> Journal | None:
        return self._begun.journal

    def _with_store(self, store: Store) -> GuardedStore:
        copy = type(self)(store, self._gate, None, self.written)
        copy._begun = self._begun
        copy.digests = self.digests
        return copy

    @property
    def writes_in_parts(self) -> bool:
        """Whether a chunk and its checksum are written to the file one after the other
        (:class:`~xzarrio.integrity.checksums.ChecksummedBuffer`): on zarr's own
        ``LocalStore``, whose ``set`` this stands in for. A subclass, or a ``set``
        replaced, is called as it is."""
        return is_zarrs_own_local_set(self._store)

    def record_digests(self, digests: dict[str, str | None]) -> None:
        """Keep the digests of chunks written through this store (None: deleted)."""
        if not isinstance(self._gate, RemoteGate):
            self.digests.update(digests)
        elif self._gate.event_name is not None:  # a Client's worker: gathered from there
            with _LOCK:
                _DIGESTS.setdefault(self._gate.event_name, {}).update(digests)
        # else a process of the processes scheduler: the writer reads the chunks back

    @property
    def supports_consolidated_metadata(self) -> bool:
        return bool(self._store.supports_consolidated_metadata)

    def begin_on_demand(self, begin: Callable[[], None]) -> None:
        """Let a waiting store begin its write itself (*begin*, in this process) when its
        first write comes (a copy in another process cannot)."""
        self._begun.on_demand = begin

    async def _wait_until_begun(self) -> None:
        if not self._begun.waiting:
            return
        if self._begun.on_demand is None:
            raise WriteAborted(
                "this deferred xzarrio write has not begun, and cannot begin here: compute "
                "it in the process that made it, with its own .compute() (or dask.compute "
                "on dask's threads)"
            )
        await asyncio.wrap_future(self._begun.begin())

    @asynccontextmanager
    async def _changing(self, key: str) -> AsyncIterator[None]:
        await self._wait_until_begun()
        self._gate.enter()
        try:
            if self._journal is not None:
                await self._journal.before_change(key)
            yield
            self._changed()
        finally:
            self._gate.leave()

    def _changed(self) -> None:
        """Called after every change this store passed on."""

    async def copy_in(self, source: Store, key: str) -> None:
        """Copy *key* of *source* here (on the server, where it can), journaled first."""
        async with self._changing(key):
            if not await copy_key(source, key, self._store, key):
                raise FileNotFoundError(f"{key!r} is missing from the store copied in")

    async def set(self, key: str, value: Any) -> None:
        if self._begun.waiting and self._begun.holding:
            self._begun.held[key] = value
            return
        async with self._changing(key):
            if isinstance(value, ChecksummedBuffer) and self.writes_in_parts:
                # the chunk and its checksum one after the other: no copy to join them
                root = cast(LocalStore, self._store).root
                await asyncio.to_thread(write_parts, root / key, value)
            else:
                await self._store.set(key, value)
        self.written[key] = len(value)

    async def set_if_not_exists(self, key: str, value: Any) -> None:
        async with self._changing(key):
            await self._store.set_if_not_exists(key, value)
        self.written.setdefault(key, len(value))

    async def delete(self, key: str) -> None:
        async with self._changing(key):
            await self._store.delete(key)
        self.written.pop(key, None)

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        """The store's listing, less the keys other writers are writing now: zarr
        writes a key to a ``.partial`` file and renames it, and a listing of a group
        in that moment would have zarr warn that it is no node of the hierarchy."""
        async for name in self._store.list_dir(prefix):
            if not name.endswith(PARTIAL_SUFFIX):
                yield name

    async def delete_dir(self, prefix: str) -> None:
        await self._wait_until_begun()
        self._gate.enter()
        try:
            if self._journal is not None:
                async for key in self._store.list_prefix(prefix):
                    await self._journal.before_change(key)
            await self._store.delete_dir(prefix)
            for key in [k for k in self.written if k.startswith(prefix)]:
                del self.written[key]
            self._changed()
        finally:
            self._gate.leave()


class ForkedStore(GuardedStore):
    """A :class:`GuardedStore` over the store of an icechunk ``ForkSession``.

    Pickled to a worker with a task, it carries a copy of the fork; every
    process keeps the forks it changed, for the writer to merge.
    """

    def _changed(self) -> None:
        _keep_fork(self._gate.event_name, self._store)
