"""The writer owns every write to the store: a gate that counts them and can close.

Every key xarray and zarr write goes through :class:`GuardedStore`, a zarr
store wrapping the real one. It keeps the key in the write's undo journal
before changing it, and it passes through a :class:`Gate`: the gate counts
the store calls in flight, and once closed it refuses new ones. A failed
write closes the gate and waits for it to drain before it rolls back, so no
chunk write of the call is still running, or lands, after the rollback.
(zarr's ``concurrent_map`` does not cancel the sibling writes of a failed
one: they are still in flight on zarr's event loop when the call raises.)

In another process (the processes scheduler, a ``distributed`` worker) the
gate cannot count; there it refuses writes once the write's abort event,
a ``distributed.Event``, is set.

A write to an ``icechunk`` session on a Client goes through a
:class:`ForkedStore`: the session's fork travels to the workers with the
tasks, each process keeps the forks it wrote into, and the writer gathers
them (:meth:`Gate.gather_forks`) to merge them into the session before its
one commit, as icechunk documents for distributed writes.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from zarr.abc.store import Store
from zarr.storage import LocalStore, WrapperStore

from ..integrity.checksums import ChecksummedBuffer, write_parts
from ..journal import Journal
from ..stores import copy_key

__all__ = ["ForkedStore", "Gate", "GuardedStore", "WriteAborted", "scheduler_time", "workers_left"]


class WriteAborted(RuntimeError):
    """A store write refused because the write it belongs to is being rolled back."""


class Gate:
    """Counts the store calls of one write that are in flight; closes to new ones.

    On a ``distributed.Client`` (*client*) it also reaches the write's store
    calls on the workers, through an abort event named after the write.
    """

    def __init__(self, client: Any = None) -> None:
        self.client = client
        self.event_name = f"xzarrio-abort-{uuid.uuid4().hex}" if client is not None else None
        self._cond = threading.Condition()
        self._running = 0
        self._closed = False

    def enter(self) -> None:
        with self._cond:
            if self._closed:
                raise WriteAborted("this write failed and is being rolled back")
            self._running += 1

    def leave(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    def close(self) -> None:
        """Refuse every store call from now on, here and in the workers."""
        with self._cond:
            self._closed = True
        if self.event_name is not None:
            from distributed import Event

            Event(self.event_name, client=self.client).set()

    def drain(self) -> None:
        """Wait until no store call of this write is in flight in this process."""
        with self._cond:
            self._cond.wait_for(lambda: self._running == 0)

    def drain_workers(self, poll: float = 0.05) -> None:
        """Wait until no worker of the Client is in a store call of this write (after close)."""
        while any(self.client.run(_in_flight, self.event_name).values()):
            time.sleep(poll)

    def gather_digests(self, store: GuardedStore) -> dict[str, str | None]:
        """The chunk digests of this write: those *store* kept here, and the workers'."""
        digests = dict(store.digests)
        if self.client is not None:
            for kept in self.client.run(_pop_digests, self.event_name).values():
                digests.update(kept)
        return digests

    def drop_digests(self) -> None:
        """Let go of the chunk digests the workers kept for this (failed) write."""
        if self.client is not None:
            self.client.run(_pop_digests, self.event_name)

    def drop_forks(self) -> None:
        """Let go of the icechunk forks this write wrote into, here and on the workers."""
        _pop_forks(self.event_name)
        if self.client is not None:
            self.client.run(_pop_forks, self.event_name)

    def gather_forks(self, since: float) -> list[Any]:
        """The store of every icechunk fork this write wrote into, here and on the workers.

        A worker that left the cluster since *since* (:func:`scheduler_time`)
        took the forks of the chunks it wrote with it, so the write has
        failed: raises then.
        """
        forks = _pop_forks(self.event_name)
        if self.client is not None:
            for kept in self.client.run(_pop_forks, self.event_name).values():
                forks.extend(kept)
            lost = workers_left(self.client, since)
            if lost:
                raise RuntimeError(
                    f"the workers {lost} left the cluster during the write, with the icechunk "
                    "changes of the chunks they wrote; nothing is committed: write again"
                )
        return forks

    def __reduce__(self) -> tuple[Any, ...]:
        return (_RemoteGate, (self.event_name,))


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


#: per abort event, the store calls in flight in this (worker) process
_IN_FLIGHT: dict[str, int] = {}
#: per abort event, the stores of the icechunk forks written into in this process, by id
_FORKS: dict[str | None, dict[int, Any]] = {}
#: per abort event, the chunk digests the write's tasks recorded in this (worker) process
_DIGESTS: dict[str | None, dict[str, str | None]] = {}
_LOCK = threading.Lock()
#: zarr's own ``LocalStore.set``, which :meth:`GuardedStore.set` writes in parts in place of
_LOCAL_SET = LocalStore.set


def _in_flight(event_name: str) -> int:
    with _LOCK:
        return _IN_FLIGHT.get(event_name, 0)


def _keep_fork(event_name: str | None, store: Any) -> None:
    with _LOCK:
        _FORKS.setdefault(event_name, {})[id(store)] = store


def _pop_forks(event_name: str | None) -> list[Any]:
    with _LOCK:
        return list(_FORKS.pop(event_name, {}).values())


def _pop_digests(event_name: str | None) -> dict[str, str | None]:
    with _LOCK:
        return _DIGESTS.pop(event_name, {})


class _RemoteGate:
    """A gate in another process: refuses writes once the abort event is set.

    In a ``distributed`` worker it counts its calls in flight, so that the
    writer can wait for them; it counts first and checks the event second, so
    that once the writer has seen none in flight after setting it, none starts.
    """

    def __init__(self, event_name: str | None) -> None:
        self.event_name = event_name

    def enter(self) -> None:
        if self.event_name is None:
            return  # the processes scheduler: the writer's pool waits for its tasks
        with _LOCK:
            _IN_FLIGHT[self.event_name] = _IN_FLIGHT.get(self.event_name, 0) + 1
        from distributed import Event

        if Event(self.event_name).is_set():
            self.leave()
            raise WriteAborted("this write failed and is being rolled back")

    def leave(self) -> None:
        if self.event_name is None:
            return
        with _LOCK:
            _IN_FLIGHT[self.event_name] -= 1

    def __reduce__(self) -> tuple[Any, ...]:
        return (_RemoteGate, (self.event_name,))


class GuardedStore(WrapperStore[Store]):
    """A store whose every change is journaled first and passes through a gate.

    It also keeps the digest of every chunk written through it
    (:class:`~xzarrio.integrity.digests.DigestSink`): in :attr:`digests` in
    the writer's process, and for the writer to gather in a worker's.
    """

    def __init__(
        self,
        store: Store,
        gate: Gate | _RemoteGate,
        journal: Journal | None,
        written: dict[str, int] | None = None,
    ) -> None:
        super().__init__(store)
        self._gate = gate
        self._journal = journal
        #: the size of every key written through this store in this process, by key
        self.written: dict[str, int] = {} if written is None else written
        #: the digest of every chunk written through this store in this process, by key
        self.digests: dict[str, str | None] = {}

    def _with_store(self, store: Store) -> GuardedStore:
        copy = type(self)(store, self._gate, self._journal, self.written)
        copy.digests = self.digests
        return copy

    @property
    def writes_in_parts(self) -> bool:
        """Whether a chunk and its checksum are written to the file one after the other
        (:class:`~xzarrio.integrity.checksums.ChecksummedBuffer`): on zarr's own
        ``LocalStore``, whose ``set`` this stands in for. A subclass, or a ``set``
        replaced, is called as it is."""
        return type(self._store) is LocalStore and LocalStore.set is _LOCAL_SET

    def record_digests(self, digests: dict[str, str | None]) -> None:
        """Keep the digests of chunks written through this store (None: deleted)."""
        if not isinstance(self._gate, _RemoteGate):
            self.digests.update(digests)
        elif self._gate.event_name is not None:  # a Client's worker: gathered from there
            with _LOCK:
                _DIGESTS.setdefault(self._gate.event_name, {}).update(digests)
        # else a process of the processes scheduler: the writer reads the chunks back

    @property
    def supports_consolidated_metadata(self) -> bool:
        return bool(self._store.supports_consolidated_metadata)

    @asynccontextmanager
    async def _changing(self, key: str) -> AsyncIterator[None]:
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

    async def delete_dir(self, prefix: str) -> None:
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
