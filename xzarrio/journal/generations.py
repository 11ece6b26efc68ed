"""The generation of each array of a store: tokens that every write changes.

Every array xzarrio writes has a small record beside its manifest,
``<array>/.xzarrio/generation``: two random tokens, ``structure`` and
``data``. A write that changes an array in place gives it a new ``data``
token when it begins (its journal already open) and again before it commits;
one that changes its shape, codecs or coordinates (an append, a write that
adds or redefines variables) gives it a new ``structure`` token too. A new
or replaced store gets new tokens for every array. Tokens are never put back,
not even by a rollback: they say "this array may have changed", never "it is
as it was".

Two things are built on them:

- a writer notes the ``structure`` tokens when it checks its data against
  the store, and compares them once it holds the store's lock (or its
  journal): if another writer began since, the checks are made again;
- a reader notes the tokens when it opens the store, and after it reads a
  chunk checks that no write is under way (no journal) and that the chunk's
  array has the same tokens: else the chunk may come from another
  generation than the metadata it was read with.

Tokens are written directly to the store, never through a write's journal.
A store written by other tools has no record (``None`` tokens): the checks
then only see journals.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype
from zarr.core.buffer.cpu import Buffer
from zarr.storage import WrapperStore

from ..seams import memory_store_dict, wrapped_store
from ..stores import LocalFolder, Location, key_prefix, list_names
from .interface import _HEADER, JOURNAL_SUFFIX
from .local import journal_dir
from .objectstore import _MEMORY_JOURNALS, memory_place

__all__ = [
    "GENERATION_KEY", "METADATA_NAMES", "Generation", "WriteWatch", "advance_generations",
    "group_generations", "read_generations",
]  # fmt: skip

#: the key of an array's record, relative to the array
GENERATION_KEY = ".xzarrio/generation"
#: the names of the metadata files of a group or an array (zarr 3 and 2)
METADATA_NAMES = frozenset({"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"})


@dataclass(frozen=True)
class Generation:
    """The two tokens of one array (``None`` where the array has no record)."""

    structure: str | None = None
    data: str | None = None

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> Generation:
        """The tokens of a record's bytes; a record cut short has tokens no writer wrote."""
        if raw is None:
            return cls()
        parts = raw.decode("ascii", "replace").split()
        return cls(*parts) if len(parts) == 2 else cls("?", "?")

    def to_bytes(self) -> bytes:
        return f"{self.structure} {self.data}".encode("ascii")


def _key(array: str) -> str:
    return key_prefix(array) + GENERATION_KEY


async def _read_one(store: Store, array: str) -> Generation:
    raw = await store.get(_key(array), prototype=default_buffer_prototype())
    return Generation.from_bytes(None if raw is None else raw.to_bytes())


def keeps_generations(store: Store) -> bool:
    """Whether *store* can hold generation records: an icechunk repository holds zarr's
    keys only (and every read of a session is of one snapshot: it needs none)."""
    inner = wrapped_store(store) if isinstance(store, WrapperStore) else store
    return not type(inner).__module__.startswith("icechunk")


async def read_generations(store: Store, arrays: Iterable[str]) -> dict[str, Generation]:
    """The generation of each array of *arrays* (paths in *store*), read at once."""
    names = list(arrays)
    if not keeps_generations(store):
        return dict.fromkeys(names, Generation())
    found = await asyncio.gather(*(_read_one(store, name) for name in names))
    return dict(zip(names, found, strict=True))


async def group_generations(store: Store, prefix: str) -> dict[str, Generation]:
    """The generation of each node of the group at *prefix* (``""`` or ``"name/"``), by
    name: the store's own listing, read before any metadata of the group."""
    names = [n for n in await list_names(store, prefix) if n not in METADATA_NAMES]
    generations = await read_generations(store, (prefix + n for n in names))
    return {n: generations[prefix + n] for n in names}


async def advance_generations(
    store: Store, current: Mapping[str, Generation], *, structure: bool
) -> dict[str, Generation]:
    """Give every array of *current* (its generation now, by path in *store*) a new
    ``data`` token, and a new ``structure`` token if *structure* (or if it has none);
    return the new generations."""
    if not keeps_generations(store):
        return dict(current)
    new = {
        name: Generation(
            _token() if structure or generation.structure is None else generation.structure,
            _token(),
        )
        for name, generation in current.items()
    }
    await asyncio.gather(
        *(store.set(_key(name), Buffer.from_bytes(gen.to_bytes())) for name, gen in new.items())
    )
    return new


def _token() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class WriteWatch:
    """Whether a write of a store is under way: a journal of it exists.

    Picklable (a reader's tasks carry it to their workers): it keeps where the
    journals are, not the store's :class:`~xzarrio.stores.Location`.
    """

    #: a local store's journal folder
    folder: Path | None = None
    #: the store of an object store's journals (a sibling prefix)
    keys: Store | None = None
    #: the place (:func:`~xzarrio.journal.objectstore.memory_place`) of a store object
    #: whose journals this process keeps
    in_memory: int | None = None

    @classmethod
    def of(cls, location: Location) -> WriteWatch:
        """The watch of the store at *location*."""
        if isinstance(location, LocalFolder):
            return cls(folder=journal_dir(location.root))
        beside = location.beside(JOURNAL_SUFFIX)
        if beside is not None:
            return cls(keys=beside.zarr_store())
        return cls(in_memory=memory_place(location))

    async def under_way(self, *, besides: frozenset[str] = frozenset()) -> bool:
        """Whether any journal of the store exists now (a live write, or a dead one's),
        but those named in *besides*."""
        return bool(await self.journal_names() - besides)

    async def journal_names(self) -> set[str]:
        """The names of the store's journals now: those with a header (a journal with
        none is what a committed write failed to clear away, or one not begun yet)."""
        if self.folder is not None:
            try:
                with os.scandir(self.folder) as entries:
                    names = [entry.name for entry in entries]
            except FileNotFoundError:
                return set()
            return {name for name in names if (self.folder / name / _HEADER).exists()}
        if self.keys is not None:
            keys = [key.partition("/") async for key in self.keys.list_prefix("")]
            return {name for name, _, rest in keys if rest == _HEADER}
        journals = cast(Mapping[str, Any], _MEMORY_JOURNALS.get(cast(int, self.in_memory), {}))
        return {name for name, keys in journals.items() if _HEADER in memory_store_dict(keys)}
