"""The intermediate store of a rechunk: chosen first, made when the first pass runs,
removed afterwards.

It goes beside the target where the target is a path or a URL (the workers
of a cluster that can reach the one can reach the other), else to a local
temporary folder, or under ``temp_store`` where one is given. Choosing it
writes nothing, so that every argument is checked before anything is made;
it is removed when the rechunk ends, also when it fails. Beside the target it
is named as a write's staging is, after its writer, so that what a killed
rechunk left there is swept as staging is (:func:`xzarrio.atomic.sweep_staging`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numcodecs
import numpy as np
import zarr
from zarr.abc.store import Store
from zarr.codecs import BloscCodec

from ..atomic import staging_suffix
from ..errors import ArgumentTypeError
from ..seams import sync
from ..stores import Location, ObjectPrefix, ZarrFormat, delete_under, locate

__all__ = ["SCRATCH_PREFIX", "Scratch", "ScratchArray", "choose_scratch"]

#: what the name of an intermediate store starts with where it is not beside the
#: target, before a random tag
SCRATCH_PREFIX = "xzarrio-rechunk-"

#: a store's root metadata, which zarr writes for the groups above a new array
_ROOT_KEYS = ("zarr.json", ".zgroup", ".zattrs")


@dataclass(frozen=True, kw_only=True)
class Scratch:
    """Where a rechunk's intermediate arrays go."""

    #: the store, and the group in it that holds the arrays ("": all of the store)
    store: Store
    path: str
    #: where it is, for the checks that the scheduler's workers reach it (a local
    #: one: the nearest folder that is there already)
    location: Location
    #: a folder of the rechunk's own (removed whole), or None: a group in a store
    #: the rechunk does not own (only what it added is removed)
    folder: Path | None
    #: the zarr format of the intermediate arrays (the format of a store given)
    zarr_format: ZarrFormat = 3

    def array_path(self, name: str) -> str:
        return f"{self.path}/{name}" if self.path else name

    def codecs(self) -> dict[str, Any]:
        """Fast over small: the data is read once, soon after."""
        if self.zarr_format == 2:
            return {"compressors": [numcodecs.Blosc(cname="lz4", clevel=1, shuffle=1)]}
        return {"compressors": [BloscCodec(cname="lz4", clevel=1, shuffle="shuffle")]}

    @contextmanager
    def made(self) -> Iterator[None]:
        """The scratch made on entering, and removed on leaving, also after a failure."""
        before = set() if self.folder is not None else _root_keys(self.store)
        if self.folder is not None:
            self.folder.mkdir(parents=True)
        try:
            yield
        finally:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
            else:
                sync(delete_under(self.store, self.path))
                for key in _root_keys(self.store) - before:  # the parents zarr made
                    sync(self.store.delete(key))


def choose_scratch(
    target: Location, temp_store: Any, storage_options: dict[str, Any] | None
) -> Scratch:
    """Where the intermediate arrays of a rechunk to *target* go; makes nothing."""
    tag = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    if temp_store is None:
        # beside the target it is named as staging is, after its writer: the next write
        # to the target, or repair, removes it if a killed rechunk left it
        beside = f"{staging_suffix()}-rechunk"
        place = target.beside(beside)
        if place is None:  # a store object or a session: nowhere beside it
            return _local(Path(tempfile.gettempdir()) / tag)
        return _local(place.path) if place.path is not None else _own(place)
    if isinstance(temp_store, Store):
        fmt: ZarrFormat = 2 if ".zgroup" in _root_keys(temp_store) else 3
        where = locate(temp_store)
        return Scratch(store=temp_store, path=tag, location=where, folder=None, zarr_format=fmt)
    if not isinstance(temp_store, str | os.PathLike):
        raise ArgumentTypeError(
            f"temp_store={temp_store!r} is not understood; expected a folder, a URL or a "
            "zarr store object for the intermediate data"
        )
    url = isinstance(temp_store, str) and ("://" in temp_store or "::" in temp_store)
    where = locate(os.fspath(temp_store), storage_options if url else None)
    if where.path is not None:
        return _local(where.path / tag)
    return _own(cast(ObjectPrefix, where).under(tag))  # a URL that is no local path


def _local(folder: Path) -> Scratch:
    there = next(p for p in folder.parents if p.is_dir())
    store = zarr.storage.LocalStore(folder)
    return Scratch(store=store, path="", location=locate(there), folder=folder)


def _own(where: Location) -> Scratch:
    """A prefix of an object store that the rechunk owns: removed whole."""
    return Scratch(store=where.zarr_store(), path="", location=where, folder=None)


def _root_keys(store: Store) -> set[str]:
    return {key for key in _ROOT_KEYS if sync(store.exists(key))}


class ScratchArray:
    """An intermediate array as the last pass reads it: opened on its first read, since
    it is made only after the write that reads it is planned."""

    def __init__(self, store: Store, path: str, shape: tuple[int, ...], dtype: Any) -> None:
        self.store, self.path = store, path
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype), len(shape)
        self._array: zarr.Array[Any] | None = None

    def __getitem__(self, key: Any) -> Any:
        if self._array is None:
            self._array = zarr.open_array(self.store, path=self.path, mode="r")
        return self._array[key]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}
