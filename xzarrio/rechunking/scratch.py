"""The intermediate store of a rechunk: made where the caller says, removed afterwards.

It goes beside the target where the target is a path or a URL (the workers
of a cluster that can reach the one can reach the other), else to a local
temporary folder, or under ``temp_store`` where one is given; it is removed
when the rechunk ends, also when it fails. Beside the target it is named as
a write's staging is, after its writer, so that what a killed rechunk left
there is swept as staging is (:func:`xzarrio.atomic.sweep_staging`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import zarr
from zarr.abc.store import Store
from zarr.core.sync import sync

from ..atomic import staging_suffix
from ..errors import ArgumentTypeError
from ..stores import Location, locate

__all__ = ["SCRATCH_PREFIX", "scratch_group"]

#: what the name of an intermediate store starts with (beside a target: after
#: ``.NAME.``), before a random tag
SCRATCH_PREFIX = "xzarrio-rechunk-"


@contextmanager
def scratch_group(
    target: Location, temp_store: Any, storage_options: dict[str, Any] | None
) -> Iterator[zarr.Group]:
    """A new, empty zarr group for intermediate arrays, removed on leaving, also after a
    failure; its store is of a rechunk of its own (the name ends in a random tag)."""
    tag = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    store, path, remove = _place(target, temp_store, storage_options, tag)
    try:
        yield zarr.open_group(store, path=path, mode="w-", zarr_format=3)
    finally:
        remove()


def _place(
    target: Location, temp_store: Any, storage_options: dict[str, Any] | None, tag: str
) -> tuple[Store | str, str, Any]:
    """The store, the group path in it and how to remove what the rechunk put there."""
    if temp_store is None:
        # beside the target it is named as staging is, after its writer: the next write
        # to the target, or repair, removes it if a killed rechunk left it
        beside = f"{staging_suffix()}-rechunk"
        if target.kind == "local" and target.path is not None:
            return _local(target.path.parent / f".{target.path.name}{beside}")
        if target.kind == "fsspec":
            return _fsspec(cast(zarr.storage.FsspecStore, target.sibling(beside).zarr_store()))
        return _local(Path(tempfile.gettempdir()) / tag)
    if isinstance(temp_store, Store):
        return temp_store, tag, lambda: sync(temp_store.delete_dir(tag))
    if not isinstance(temp_store, str | os.PathLike):
        raise ArgumentTypeError(
            f"temp_store={temp_store!r} is not understood; expected a folder, a URL or a "
            "zarr store object for the intermediate data"
        )
    where = locate(os.fspath(temp_store), storage_options if _is_url(temp_store) else None)
    if where.kind == "local" and where.path is not None:
        return _local(where.path / tag)
    store = cast(zarr.storage.FsspecStore, where.zarr_store())
    return _fsspec(zarr.storage.FsspecStore(store.fs, path=f"{store.path.rstrip('/')}/{tag}"))


def _is_url(place: Any) -> bool:
    return isinstance(place, str) and ("://" in place or "::" in place)


def _local(path: Path) -> tuple[str, str, Any]:
    path.mkdir(parents=True)
    return str(path), "", lambda: shutil.rmtree(path, ignore_errors=True)


def _fsspec(store: zarr.storage.FsspecStore) -> tuple[Store, str, Any]:
    return store, "", lambda: sync(store.delete_dir(""))
