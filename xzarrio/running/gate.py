"""The count of one call's store calls in flight, and the gate that closes to new ones.

A failed write closes its :class:`Gate` and waits for it to drain before it
rolls back, so that no chunk write of the call is still running, or lands,
after the rollback. (zarr's ``concurrent_map`` does not cancel the sibling
writes of a failed one: they are still in flight on zarr's event loop when
the call raises.)

In another process (the processes scheduler, a ``distributed`` worker) the
gate is a :class:`RemoteGate`: it cannot count for the writer, so it
refuses store calls once the write's abort event, a ``distributed.Event``,
is set, and in a worker it counts its calls in flight for the writer to
poll (:meth:`Gate.drain_workers`).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

__all__ = ["Gate", "RemoteGate", "WriteAborted"]


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
        #: why the workers could not be told that the write is closed, if they could not
        self.unreached: Exception | None = None

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
            if self._closed:
                return
            self._closed = True
        if self.event_name is not None:
            from distributed import Event

            try:
                Event(self.event_name, client=self.client).set()
            except Exception as error:  # a Client closed, or the scheduler gone
                self.unreached = error

    def drain(self) -> None:
        """Wait until no store call of this write is in flight in this process."""
        with self._cond:
            self._cond.wait_for(lambda: self._running == 0)

    def drain_workers(self, poll: float = 0.05) -> None:
        """Wait until no worker of the Client is in a store call of this write (after close).

        Raises the reason the workers could not be told, if they could not: a
        rollback then cannot know that none of them writes on.
        """
        if self.unreached is not None:
            raise self.unreached
        while any(self.client.run(_in_flight, self.event_name).values()):
            time.sleep(poll)

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteGate, (self.event_name,))


#: per abort event, the store calls in flight in this (worker) process
_IN_FLIGHT: dict[str, int] = {}
_LOCK = threading.Lock()


def _in_flight(event_name: str) -> int:
    with _LOCK:
        return _IN_FLIGHT.get(event_name, 0)


class RemoteGate:
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
        return (RemoteGate, (self.event_name,))
