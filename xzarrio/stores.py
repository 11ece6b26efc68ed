"""Where a store lives: local paths, URLs and store objects, and whether they hold zarr.

:func:`locate` turns whatever a user passes as a store (a path, a URL with
``storage_options``, a zarr store object, an ``icechunk.Session``) into one
:class:`Location`; every other module asks the location, not the argument.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import zarr
from zarr.abc.store import Store

from .codecs import quiet_spec_notes
from .errors import ArgumentTypeError, InvalidArgumentError, NotAZarrStoreError, StoreNotFoundError

__all__ = [
    "ZARR_MARKERS",
    "Location",
    "check_readable",
    "copy_key",
    "is_zarr_dir",
    "list_names",
    "local_path",
    "locate",
    "open_root",
    "source_of_store",
]

#: keys that mark the root of a zarr group or array, format 3 and format 2
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray", ".zmetadata")

#: what a location is: a local folder, an fsspec URL, an in-memory store, an
#: icechunk session, or any other zarr store object
Kind = Literal["local", "fsspec", "memory", "icechunk", "object"]


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


def is_icechunk_session(obj: Any) -> bool:
    """Whether *obj* is an ``icechunk.Session`` (without importing icechunk)."""
    return type(obj).__name__ == "Session" and type(obj).__module__.startswith("icechunk")


@dataclass(frozen=True, kw_only=True)
class Location:
    """One store, however it was named.

    Attributes
    ----------
    kind : {"local", "fsspec", "memory", "icechunk", "object"}
        What it is, which decides how a write to it is made safe.
    given : object
        What the user passed: a path, a URL, a store object or a session.
    path : Path or None
        The absolute root of a local store.
    storage_options : dict or None
        Options for fsspec, for URLs.
    """

    kind: Kind
    given: Any
    path: Path | None = None
    storage_options: dict[str, Any] | None = None
    _store: Any = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        """How messages name the store: its path or URL, else the object's repr."""
        if self.path is not None:
            return str(self.path)
        return self.given if isinstance(self.given, str) else repr(self.given)

    @property
    def shown(self) -> str:
        """The name as messages quote it: a path or URL in quotes, an object's repr bare."""
        named = self.path is not None or isinstance(self.given, str)
        return repr(self.name) if named else self.name

    @property
    def read_only(self) -> bool:
        """Whether the store object itself says it takes no writes."""
        if self.kind == "icechunk":
            return bool(getattr(self.given, "read_only", False))
        return bool(getattr(self._store, "read_only", False))

    def zarr_store(self) -> Store:
        """The zarr store object to read and write through (made once per location)."""
        if self.kind == "icechunk":
            return cast(Store, self.given.store)
        return cast(Store, self._store)

    def opener(self) -> Any:
        """What to hand ``xarray.open_zarr`` or ``zarr.open_group``."""
        if self.kind == "local":
            return str(self.path)
        return self.zarr_store()

    def sibling(self, name: str) -> Location:
        """The prefix beside this object store called ``.<store name><name>``."""
        if self.kind != "fsspec":
            raise InvalidArgumentError(f"a {self.kind} store has no place beside it")
        store = cast(zarr.storage.FsspecStore, self._store)
        parent, base = posixpath.split(store.path.rstrip("/"))
        if not parent or not base:
            raise InvalidArgumentError(
                f"{self.name!r} is at the root of its bucket, so there is no place beside it "
                "for xzarrio's staging and journal; write into a prefix instead, "
                "e.g. s3://bucket/name.zarr"
            )
        sibling = zarr.storage.FsspecStore(store.fs, path=f"{parent}/.{base}{name}")
        return Location(kind="fsspec", given=f"{self.given}{name}", _store=sibling)


def locate(store: Any, storage_options: dict[str, Any] | None = None) -> Location:
    """The :class:`Location` of *store*; raises ``TypeError`` for what is no store."""
    _check_storage_options(store, storage_options)
    if isinstance(store, str | os.PathLike) and not os.fspath(store):
        raise InvalidArgumentError(
            f"store={store!r} names no store; expected a path (it would name the working "
            "directory), a URL or a zarr store object"
        )
    path = local_path(store)
    if path is not None:
        read_only = isinstance(store, zarr.storage.LocalStore) and store.read_only
        local = zarr.storage.LocalStore(path, read_only=read_only)
        return Location(kind="local", given=store, path=path, _store=local)
    if is_icechunk_session(store):
        return Location(kind="icechunk", given=store)
    if isinstance(store, str):
        return Location(
            kind="fsspec", given=store, storage_options=storage_options,
            _store=_fsspec_store(store, storage_options),
        )  # fmt: skip
    if isinstance(store, zarr.storage.FsspecStore):
        return Location(kind="fsspec", given=store, _store=store)
    if isinstance(store, zarr.storage.MemoryStore):
        return Location(kind="memory", given=store, _store=store)
    if isinstance(store, Store):
        return Location(kind="object", given=store, _store=store)
    raise ArgumentTypeError(
        f"store={store!r} is not understood; expected a path, a URL such as "
        "'s3://bucket/out.zarr', a zarr store object or an icechunk.Session"
    )


def _check_storage_options(store: Any, storage_options: Any) -> None:
    """``storage_options`` is a dict, and only for URLs (xarray: ``TypeError`` otherwise)."""
    if storage_options is None:
        return
    if not isinstance(storage_options, dict):
        raise ArgumentTypeError(
            f"storage_options must be a dict of fsspec options, got {storage_options!r}"
        )
    url = isinstance(store, str) and ("://" in store or "::" in store)
    if storage_options and not url:
        raise ArgumentTypeError(
            f"storage_options={storage_options!r} is only used with a URL such as "
            f"'s3://bucket/out.zarr', not with store={store!r}; leave it out, or give the "
            "options to the store object"
        )


def _fsspec_store(url: str, storage_options: dict[str, Any] | None) -> zarr.storage.FsspecStore:
    try:
        return zarr.storage.FsspecStore.from_url(
            url, storage_options=storage_options, read_only=False
        )
    except ValueError as err:
        if not str(err).startswith("Protocol not known"):
            raise
        protocol = url.split("::")[-1].split("://")[0]
        raise InvalidArgumentError(
            f"store={url!r}: fsspec does not know the protocol {protocol!r}; expected a local "
            "path or a URL such as 's3://bucket/out.zarr'"
        ) from None


async def list_names(store: Store, prefix: str = "") -> list[str]:
    """The names directly under *prefix* of *store* (keys and folders, no trailing slash)."""
    return [name.rstrip("/") async for name in store.list_dir(prefix)]


async def copy_key(source: Store, key: str, target: Store, target_key: str) -> bool:
    """Copy *key* of *source* to *target_key* of *target*; False if *source* lacks it.

    Between two stores of one fsspec file system that copies on the server
    (S3's CopyObject), so the bytes never travel through this process.
    """
    from zarr.core.buffer import default_buffer_prototype

    FsspecStore = zarr.storage.FsspecStore
    if isinstance(source, FsspecStore) and isinstance(target, FsspecStore):
        if source.fs is target.fs and hasattr(source.fs, "_cp_file"):
            try:
                await source.fs._cp_file(f"{source.path}/{key}", f"{target.path}/{target_key}")
            except FileNotFoundError:
                return False
            return True
    value = await source.get(key, prototype=default_buffer_prototype())
    if value is None:
        return False
    await target.set(target_key, value)
    return True


def is_zarr_dir(path: Path, group: str | None = None) -> bool:
    """Whether the local directory *path* (at *group*) holds zarr metadata."""
    where = path / group if group else path
    return where.is_dir() and any((where / marker).exists() for marker in ZARR_MARKERS)


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
            f"{where} is not a zarr store: none of {list(ZARR_MARKERS)} is in it"
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
    if path is not None:
        target: Any = str(path)
    elif is_icechunk_session(store):
        target = store.store
    else:
        target = store
    with quiet_spec_notes():
        return zarr.open_group(
            target,
            path=group or "",
            mode=mode,
            storage_options=storage_options if isinstance(target, str) else None,
            zarr_format=cast(Literal[2, 3] | None, zarr_format),
        )
