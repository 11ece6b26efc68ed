"""Where a store lives: local paths, URLs and store objects, and whether they hold zarr."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, cast

import zarr

from .errors import NotAZarrStoreError, StoreNotFoundError

__all__ = ["check_readable", "is_zarr_dir", "local_path", "open_root", "source_of_store"]

# files that mark the root of a zarr store, format 3 and format 2
_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray", ".zmetadata")


def local_path(store: Any) -> Path | None:
    """The absolute local path of *store*, or None for URLs and store objects."""
    if isinstance(store, zarr.storage.LocalStore):
        return Path(store.root).absolute()
    if isinstance(store, os.PathLike):
        store = os.fspath(store)
    if not isinstance(store, str):
        return None
    if store.startswith("file://"):
        store = store.removeprefix("file://")
    elif "://" in store or "::" in store:
        return None
    return Path(store).expanduser().absolute()


def source_of_store(store: Any) -> Any:
    """What ``encoding["source"]`` remembers: an absolute path, a URL or the store object."""
    path = local_path(store)
    if path is not None:
        return str(path)
    return os.fspath(store) if isinstance(store, os.PathLike) else store


def is_zarr_dir(path: Path, group: str | None = None) -> bool:
    """Whether the local directory *path* (at *group*) holds zarr metadata."""
    where = path / group if group else path
    return where.is_dir() and any((where / marker).exists() for marker in _ZARR_MARKERS)


def check_readable(store: Any, group: str | None = None) -> None:
    """Raise a clear error when a local *store* is missing or holds no zarr.

    URLs and store objects are left to zarr and fsspec, which raise their own.
    """
    path = local_path(store)
    if path is None:
        return
    if not path.exists():
        raise StoreNotFoundError(f"no zarr store at {str(path)!r}: the path does not exist")
    if not path.is_dir():
        raise NotAZarrStoreError(
            f"{str(path)!r} is not a zarr store: it is a file, "
            "and a local zarr store is a directory"
        )
    if group and is_zarr_dir(path) and not is_zarr_dir(path, group):
        raise StoreNotFoundError(f"no group {group!r} in the zarr store {str(path)!r}")
    if not is_zarr_dir(path, group):
        where = f"{str(path)!r}" + (f" (group {group!r})" if group else "")
        raise NotAZarrStoreError(
            f"{where} is not a zarr store: none of {list(_ZARR_MARKERS)} is in it"
        )


def open_root(
    store: Any,
    *,
    group: str | None = None,
    mode: Literal["r", "r+"] = "r",
    storage_options: dict[str, Any] | None = None,
    zarr_format: int | None = None,
) -> zarr.Group:
    """Open the zarr group of a store, after :func:`check_readable`."""
    check_readable(store, group)
    path = local_path(store)
    target = str(path) if path is not None else store
    return zarr.open_group(
        target,
        path=group or "",
        mode=mode,
        storage_options=storage_options,
        zarr_format=cast(Literal[2, 3] | None, zarr_format),
    )
