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
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from zarr.abc.store import Store
from zarr.storage import WrapperStore

from ..journal import Journal
from ..stores import copy_key

__all__ = ["Gate", "GuardedStore", "WriteAborted"]


class WriteAborted(RuntimeError):
    """A store write refused because the write it belongs to is being rolled back."""


class Gate:
    """Counts the store calls of one write that are in flight; closes to new ones."""

    def __init__(self, event_name: str | None = None) -> None:
        self.event_name = event_name
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

            Event(self.event_name).set()

    def drain(self) -> None:
        """Wait until no store call of this write is in flight in this process."""
        with self._cond:
            self._cond.wait_for(lambda: self._running == 0)

    def drain_workers(self, client: Any, poll: float = 0.05) -> None:
        """Wait until no worker of *client* is in a store call of this write (after close)."""
        while any(client.run(_in_flight, self.event_name).values()):
            time.sleep(poll)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_RemoteGate, (self.event_name,))


#: per abort event, the store calls in flight in this (worker) process
_IN_FLIGHT: dict[str, int] = {}
_IN_FLIGHT_LOCK = threading.Lock()


def _in_flight(event_name: str) -> int:
    with _IN_FLIGHT_LOCK:
        return _IN_FLIGHT.get(event_name, 0)


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
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT[self.event_name] = _IN_FLIGHT.get(self.event_name, 0) + 1
        from distributed import Event

        if Event(self.event_name).is_set():
            self.leave()
            raise WriteAborted("this write failed and is being rolled back")

    def leave(self) -> None:
        if self.event_name is None:
            return
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT[self.event_name] -= 1

    def __reduce__(self) -> tuple[Any, ...]:
        return (_RemoteGate, (self.event_name,))


class GuardedStore(WrapperStore[Store]):
    """A store whose every change is journaled first and passes through a gate."""

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

    def _with_store(self, store: Store) -> GuardedStore:
        return type(self)(store, self._gate, self._journal, self.written)

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
        finally:
            self._gate.leave()

    async def copy_in(self, source: Store, key: str) -> None:
        """Copy *key* of *source* here (on the server, where it can), journaled first."""
        async with self._changing(key):
            if not await copy_key(source, key, self._store, key):
                raise FileNotFoundError(f"{key!r} is missing from the store copied in")

    async def set(self, key: str, value: Any) -> None:
        async with self._changing(key):
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
        finally:
            self._gate.leave()
