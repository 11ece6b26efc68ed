"""The journal of an object store or a store object: copies of the old keys.

Its keys live under a sibling prefix of the store (an object store's prefix), or,
for in-memory and other store objects, in memory for as long as this process
lives. On an object store its header carries the writer's lease, which
:meth:`StoreJournal.refresh` moves forward.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, cast

from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype
from zarr.storage import MemoryStore

from ..liveness import LEASE_SECONDS
from ..seams import memory_store_dict, sync
from ..stores import Location, ObjectPrefix, copy_key, delete_under, list_names
from .interface import _HEADER, JOURNAL_SUFFIX, Journal

__all__ = ["StoreJournal", "gather_bounded", "memory_place"]

#: journals of in-memory and other store objects, which have no place beside
#: them: by :func:`memory_place` of the store, then the journal's name, for as long
#: as this process lives
_MEMORY_JOURNALS: dict[int, dict[str, MemoryStore]] = {}


def memory_place(location: Location) -> int:
    """The key of the journals in :data:`_MEMORY_JOURNALS` of the store at *location*:
    the identity of the place its keys live in, whatever wrapper it was given in (a
    MemoryStore's dict, which the MemoryStores made over it share; another store
    object beneath its wrappers), so that every writer and reader of it finds them."""
    place = location.lock_place
    return id(memory_store_dict(place) if isinstance(place, MemoryStore) else place)


class StoreJournal(Journal):
    """A journal of a store object or an object store: copies of the old keys."""

    def __init__(self, target: Store, keys: Store, record: dict[str, Any]) -> None:
        super().__init__(record)
        self.target = target
        self.keys = keys

    async def _keep(self, key: str) -> None:
        if self.record.get("fresh"):
            return  # the store was empty: playing back deletes all of it
        if not await copy_key(self.target, key, self.keys, f"saved/{key}"):
            await self.keys.set(f"created/{key}", _EMPTY)

    def _put(self, name: str, data: bytes) -> None:
        sync(self.keys.set(name, default_buffer_prototype().buffer.from_bytes(data)))

    def _kept_regions(self) -> list[tuple[bytes, bytes]]:
        names = sorted(sync(_listed(self.keys, "regions/")))
        kept = []
        for name in (n for n in names if n.endswith(".json")):
            pair = (name, name.removesuffix(".json") + ".npy")
            got = [sync(self.keys.get(n, prototype=default_buffer_prototype())) for n in pair]
            if got[0] is not None and got[1] is not None:
                kept.append((got[0].to_bytes(), got[1].to_bytes()))
        return kept

    def playback(self, *, sweep_partial: bool = False) -> None:
        self._end()  # from now on its writer has given up
        self._ending = "rolled back"
        sync(self._playback())
        self._restore_regions(self.target, self.target)
        self.discard()

    async def _playback(self) -> None:
        if self.record.get("fresh"):
            await delete_under(self.target)
            return
        created = [k async for k in self.keys.list_prefix("created/")]
        saved = [k async for k in self.keys.list_prefix("saved/")]
        await gather_bounded(self.target.delete(k.removeprefix("created/")) for k in created)
        await gather_bounded(self._put_back(k) for k in saved)

    async def _put_back(self, key: str) -> None:
        await copy_key(self.keys, key, self.target, key.removeprefix("saved/"))

    def remove_header(self) -> None:
        self._end()
        sync(self.keys.delete(_HEADER))  # the commit point
        self.removed = True

    def sweep(self) -> None:
        try:
            sync(delete_under(self.keys))
        except Exception as error:
            where = getattr(self.keys, "path", repr(self.keys))
            self._left_behind(where, error, "delete it when the store takes deletes again")

    def refresh(self) -> None:
        if "expires" in self.record:
            self.record["expires"] = time.time() + LEASE_SECONDS
            sync(self.keys.set(_HEADER, _encode(self.record)))


def _encode(record: dict[str, Any]) -> Any:
    return default_buffer_prototype().buffer.from_bytes(json.dumps(record).encode())


_EMPTY = default_buffer_prototype().buffer.from_bytes(b"")


async def _listed(store: Store, prefix: str) -> list[str]:
    return [key async for key in store.list_prefix(prefix)]


async def gather_bounded(coroutines: Any, limit: int = 64) -> None:
    """Run *coroutines*, at most *limit* at once; every one has ended when this returns."""
    gate = asyncio.Semaphore(limit)

    async def bounded(coroutine: Any) -> None:
        async with gate:
            await coroutine

    results = await asyncio.gather(*(bounded(c) for c in coroutines), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _journal_names(location: Location) -> list[str]:
    """The names of the journals of a non-local store (a sibling prefix, or memory)."""
    beside = location.beside(JOURNAL_SUFFIX)
    if beside is not None:
        return sorted(sync(list_names(beside.zarr_store())))
    return sorted(_MEMORY_JOURNALS.get(memory_place(location), {}))


def _journal_keys(location: Location, name: str) -> Store:
    """The store of journal *name*'s keys."""
    beside = location.beside(JOURNAL_SUFFIX)
    if beside is not None:
        return cast(ObjectPrefix, beside).under(name).zarr_store()
    journals_of_store = _MEMORY_JOURNALS.setdefault(memory_place(location), {})
    for ended in [n for n, keys in journals_of_store.items() if not memory_store_dict(keys)]:
        del journals_of_store[ended]  # discarded: nothing left of them
    return journals_of_store.setdefault(name, MemoryStore())


def _store_journals(location: Location) -> list[StoreJournal]:
    found = []
    for name in _journal_names(location):
        keys = _journal_keys(location, name)
        header = sync(keys.get(_HEADER, prototype=default_buffer_prototype()))
        if header is not None:
            record = json.loads(header.to_bytes())
            found.append(StoreJournal(location.zarr_store(), keys, record))
    return found
