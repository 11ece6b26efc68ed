"""Readers that never mix two versions of a store.

:func:`xzarrio.open_zarr` reads through a :class:`ConsistentReads` store. It
notes each array's generation (:mod:`xzarrio.journal.generations`) before it
reads any metadata, and opens again where a write began or ended meanwhile.
After each chunk it reads, it checks that no write of the store is under way
and that the chunk's array is still of the generation it noted: else the
chunk may belong to another version of the store than the metadata it is
decoded with, and the read raises :class:`~xzarrio.errors.StoreChangedError`
instead of returning it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xarray as xr
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import FsspecStore, LocalStore, MemoryStore, ObjectStore, WrapperStore

from .errors import StoreChangedError
from .journal import METADATA_NAMES, Generation, WriteWatch, group_generations, read_generations
from .seams import memory_store_dict, sync, wrapped_store, zarr_arrays_read
from .stores import Location, key_prefix

__all__ = ["ConsistentReads", "ReadBack", "open_consistent", "read_back", "same_store"]

#: how long an open waits for a write under way to end, in seconds
OPEN_WAIT = 30.0


class ConsistentReads(WrapperStore[Store]):
    """A store that checks, after each chunk it reads, that the chunk's array is of
    the generation noted when the store was opened and no write is under way.

    Parameters
    ----------
    store : zarr.abc.store.Store
        The store read.
    prefix : str
        The group's prefix in it (``""`` for the root, else ``"group/"``).
    opened : mapping of str to Generation
        Each array's generation when opened, by its name in the group.
    watch : WriteWatch
        Where the store's journals are.
    shown : str
        The store, as messages name it.
    """

    def __init__(
        self,
        store: Store,
        prefix: str,
        opened: Mapping[str, Generation],
        watch: WriteWatch,
        shown: str,
    ) -> None:
        super().__init__(store)
        self.prefix, self.opened, self.watch, self.shown = prefix, dict(opened), watch, shown
        #: the journals of writes that read through this store and do not change what
        #: they read (:func:`read_back`): not a write under way for this reader
        self.own_writes: frozenset[str] = frozenset()

    def _with_store(self, store: Store) -> ConsistentReads:
        copy = type(self)(store, self.prefix, self.opened, self.watch, self.shown)
        copy.own_writes = self.own_writes
        return copy

    def let_through(self, journal_name: str) -> None:
        """Let this store's reads go on while the write of *journal_name* runs: a write
        of the same store whose data are read through it, of arrays it does not change."""
        self.own_writes = self.own_writes | {journal_name}

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        value = await self._store.get(key, prototype, byte_range)
        await self._check([key])
        return value

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        key_ranges = list(key_ranges)
        values = await self._store.get_partial_values(prototype, key_ranges)
        await self._check(key for key, _ in key_ranges)
        return values

    def _array_of(self, key: str) -> str | None:
        """The name of the array whose chunk *key* is, or None for any other key."""
        if not key.startswith(self.prefix):
            return None
        name, _, rest = key[len(self.prefix) :].partition("/")
        if not rest or rest.rpartition("/")[2] in METADATA_NAMES or rest.startswith(".xzarrio/"):
            return None
        return name

    async def _check(self, keys: Iterable[str]) -> None:
        arrays = {a for a in map(self._array_of, keys) if a is not None}
        if not arrays:
            return
        if await self.watch.under_way(besides=self.own_writes):
            raise StoreChangedError(
                f"the store {self.shown} is being written while this Dataset reads it, so "
                "what it reads may mix two versions; open it again "
                "(xzarrio.open_zarr, or ds.zio.reopen()) once that write has ended"
            )
        now = await read_generations(self._store, (self.prefix + a for a in arrays))
        changed = [a for a in arrays if now[self.prefix + a] != self.opened.get(a, Generation())]
        if changed:
            raise StoreChangedError(
                f"the store {self.shown} was changed by a write after this Dataset was "
                f"opened ({sorted(changed)[0]!r} among others may differ from what was "
                "opened); open it again (xzarrio.open_zarr, or ds.zio.reopen())"
            )


def same_store(one: Store, other: Store) -> bool:
    """Whether two store objects are the same store: the same folder, prefix or dict,
    seen through any wrappers."""
    one, other = _innermost(one), _innermost(other)
    if isinstance(one, LocalStore) and isinstance(other, LocalStore):
        return Path(one.root).resolve() == Path(other.root).resolve()
    if isinstance(one, FsspecStore) and isinstance(other, FsspecStore):
        return one.fs.protocol == other.fs.protocol and _path(one) == _path(other)
    if isinstance(one, ObjectStore) and isinstance(other, ObjectStore):
        return bool(one.store == other.store)  # obstore's stores: equal in bucket and prefix
    if isinstance(one, MemoryStore) and isinstance(other, MemoryStore):
        return memory_store_dict(one) is memory_store_dict(other)
    return one is other


def _innermost(store: Store) -> Store:
    while isinstance(store, WrapperStore):
        store = wrapped_store(store)
    return store


def _path(store: FsspecStore) -> str:
    return str(store.path).strip("/")


@dataclass(frozen=True)
class ReadBack:
    """What the data of a write read from the store it writes."""

    #: the variables of the data that read arrays the write changes
    variables: tuple[str, ...] = ()
    #: the readers of the store (:class:`ConsistentReads`) that the data read through
    readers: tuple[ConsistentReads, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.variables or self.readers)


def read_back(ds: xr.Dataset, store: Store, written: Collection[str]) -> ReadBack:
    """What computing *ds* reads from *store*: the variables that read any of the arrays
    *written* (their paths in the store), and the readers they read through."""
    variables, readers = [], []
    for name, variable in ds.variables.items():
        for array in zarr_arrays_read(variable.data):
            if not same_store(array.store, store):
                continue
            if array.path.strip("/") in written and str(name) not in variables:
                variables.append(str(name))
            if isinstance(array.store, ConsistentReads) and array.store not in readers:
                readers.append(array.store)
    return ReadBack(tuple(variables), tuple(readers))


async def _look(location: Location, prefix: str) -> tuple[dict[str, Generation], bool]:
    """Each array's generation (by name in the group), and whether a write is under way."""
    generations = await group_generations(location.zarr_store(), prefix)
    return generations, await WriteWatch.of(location).under_way()


def open_consistent(
    location: Location, group: str | None, open_dataset: Callable[[Any], xr.Dataset]
) -> xr.Dataset:
    """``open_dataset(store)`` of *location*'s store read through :class:`ConsistentReads`.

    The generations are noted before the metadata is read; where a write
    began or ended while it was, it is read again. A write under way is
    waited for (:data:`OPEN_WAIT` seconds at most: then the Dataset opens with
    a ``RuntimeWarning``, and its reads raise ``StoreChangedError`` until it is
    opened again after the write).
    """
    prefix = key_prefix(group)
    watch = WriteWatch.of(location)
    deadline = time.monotonic() + OPEN_WAIT
    while True:
        before, under_way = sync(_look(location, prefix))
        if under_way and time.monotonic() < deadline:
            time.sleep(0.02)
            continue
        store = ConsistentReads(location.zarr_store(), prefix, before, watch, location.shown)
        try:
            ds = open_dataset(store)
        except Exception:
            if sync(_look(location, prefix)) == (before, False) or time.monotonic() > deadline:
                raise
            continue  # metadata read while a write changed it: read it again
        after = sync(_look(location, prefix))
        if after == (before, under_way) and not under_way:
            return ds
        if time.monotonic() > deadline:
            warnings.warn(
                f"a write of {location.shown} is under way; reads of this Dataset raise "
                "StoreChangedError until it is opened again after that write",
                RuntimeWarning,
                stacklevel=3,
            )
            return ds
        ds.close()
