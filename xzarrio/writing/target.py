"""Look at the place a write goes, once: what is there, in what format, writable or not."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import xarray as xr
import zarr
from zarr.core.sync import sync

from ..errors import (
    InvalidArgumentError,
    NotAZarrStoreError,
    StoreExistsError,
    StoreNotFoundError,
    StoreNotWritableError,
)
from ..journal import check_store
from ..stores import ZARR_MARKERS, Location, is_zarr_dir, list_names

__all__ = ["Target", "look"]


@dataclass(frozen=True, kw_only=True)
class Target:
    """What is at the place of a write, seen before anything is written.

    Attributes
    ----------
    location : Location
        Where the store is.
    existing : xarray.Dataset or None
        For an append or a region write, the store as it is (opened lazily,
        metadata and index coordinates only); None for a new store.
    zarr_format : int
        The store's format, or for a new store the one it will have.
    groups : frozenset of str
        The names of the groups the existing store holds at its root.
    """

    location: Location
    existing: xr.Dataset | None
    zarr_format: int
    groups: frozenset[str] = frozenset()

    @property
    def in_place(self) -> bool:
        """Whether the write changes an existing store (rather than making a new one)."""
        return self.existing is not None


def look(location: Location, mode: str, zarr_format: int | None) -> Target:
    """The :class:`Target` of a write in *mode* to *location*; refuses what cannot be."""
    if location.read_only:
        raise StoreNotWritableError(
            f"the store {location.shown} is read-only (opened with read_only=True); "
            "open it writable to write to it"
        )
    if location.kind == "icechunk" and location.given.has_uncommitted_changes:
        raise InvalidArgumentError(
            "this icechunk session already holds uncommitted changes; xzarrio commits "
            "a write on its own, so give it a fresh one: repo.writable_session('main')"
        )
    # an interrupted write first: repairing it later would undo this one
    check_store(location, writing=True)
    if mode in ("w", "w-"):
        _check_new(location, mode)
        fmt = zarr_format or zarr.config.get("default_zarr_format")
        return Target(location=location, existing=None, zarr_format=fmt)
    existing, root = _open_existing(location, mode)
    fmt = root.metadata.zarr_format
    if zarr_format is not None and zarr_format != fmt:
        raise InvalidArgumentError(f"zarr_format={zarr_format} but the store is zarr format {fmt}")
    # the store's own listing: consolidated metadata may not know a group added since
    groups = frozenset(sync(list_names(location.zarr_store()))) - set(existing.variables)
    return Target(location=location, existing=existing, zarr_format=fmt, groups=groups)


def _check_new(location: Location, mode: str) -> None:
    if location.kind == "local":
        assert location.path is not None
        _check_new_path(location.path, mode)
        return
    if mode == "w-" and _holds_zarr(location):
        raise StoreExistsError(
            f"a store already exists at {location.shown}; use mode='w' to replace it or "
            "mode='a' with append_dim to append to it"
        )


def _holds_zarr(location: Location) -> bool:
    store = location.zarr_store()
    # icechunk holds zarr 3 only, and has no format 2 keys to ask about
    markers = ("zarr.json",) if location.kind == "icechunk" else ZARR_MARKERS
    return any(sync(store.exists(marker)) for marker in markers)


def _check_new_path(path: Path, mode: str) -> None:
    """Refuse to create over something that must not be replaced."""
    if not path.exists():
        ancestor = next(p for p in path.parents if p.exists())
        if not ancestor.is_dir():
            raise NotAZarrStoreError(
                f"cannot create a store at {str(path)!r}: {str(ancestor)!r} is a file, not a folder"
            )
        return
    if not path.is_dir():
        raise NotAZarrStoreError(
            f"{str(path)!r} is a file, not a zarr store; refusing to write over it"
        )
    if not any(path.iterdir()):
        return
    if not is_zarr_dir(path):
        verb = "write into it" if mode == "w-" else "replace it with mode='w'"
        raise NotAZarrStoreError(
            f"{str(path)!r} is a directory that holds no zarr store; refusing to {verb} "
            "(remove it yourself, or choose another path)"
        )
    if mode == "w-":
        raise StoreExistsError(
            f"a store already exists at {str(path)!r}; use mode='w' to replace it or "
            "mode='a' with append_dim to append to it"
        )


def _open_existing(location: Location, mode: str) -> tuple[xr.Dataset, zarr.Group]:
    """The store to append to or write a region of, opened lazily, and its root group."""
    what = "append to" if mode == "a" else "write to"
    if location.kind == "local":
        assert location.path is not None
        path = location.path
        if not path.exists():
            raise StoreNotFoundError(f"no zarr store at {str(path)!r}: the path does not exist")
        if not is_zarr_dir(path):
            raise NotAZarrStoreError(
                f"{str(path)!r} is not a zarr store: none of {list(ZARR_MARKERS)} is in it"
            )
        if not os.access(path, os.W_OK):
            raise StoreNotWritableError(
                f"the store {str(path)!r} is read-only here (its folder takes no writes)"
            )
    try:
        root = zarr.open_group(location.opener(), mode="r")
    except (zarr.errors.GroupNotFoundError, FileNotFoundError):
        raise StoreNotFoundError(
            f"no zarr store in {location.shown}: it holds no zarr group to {what}"
        ) from None
    fmt = root.metadata.zarr_format
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        existing = xr.open_zarr(
            cast(Any, location.opener()), chunks=None, zarr_format=fmt, consolidated=None
        )
    return existing, root
