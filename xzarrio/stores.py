"""Where a store lives: local paths, URLs and store objects, and whether they hold zarr.

:func:`locate` turns whatever a user passes as a store (a path, a URL with
``storage_options``, a zarr store object, an ``icechunk.Session``) into one
:class:`Location`; every other module asks the location, not the argument.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import json
import os
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

import fsspec
import zarr
from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype

from .codecs import quiet_spec_notes
from .errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    NotAZarrStoreError,
    StoreNotFoundError,
    StoreNotWritableError,
)
from .seams import (
    InlineLocalStore,
    ensure_open,
    fs_cp_file,
    fs_has_cp_file,
    rewrapped,
    sync,
    wrapped_store,
)

__all__ = [
    "ZARR_MARKERS",
    "IcechunkSession",
    "LocalFolder",
    "Location",
    "ObjectPrefix",
    "ObstorePrefix",
    "StoreObject",
    "ZarrFormat",
    "check_readable",
    "copy_key",
    "delete_under",
    "first_write",
    "group_attributes",
    "is_obstore_prefix",
    "is_zarr_dir",
    "key_prefix",
    "list_names",
    "local_path",
    "locate",
    "open_root",
    "source_of_store",
]

#: keys that mark the root of a zarr group or array, format 3 and format 2
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray", ".zmetadata")

#: a zarr format, as zarr types it
ZarrFormat = Literal[2, 3]


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
    """One store, however it was named; a subclass per kind of place.

    :func:`locate` picks the subclass, once. What differs between kinds of
    place is a class attribute or a method here, so that no other module
    asks which kind it has.

    Attributes
    ----------
    given : object
        What the user passed: a path, a URL, a store object or a session.
    path : Path or None
        The absolute root of a local store.
    storage_options : dict or None
        Options for fsspec, for URLs.

    A store object that wraps another (a ``zarr.storage.WrapperStore``, such as
    zarr's ``LoggingStore``) is located as the store beneath it, so that its
    journal lives where that store's does, and is written through the wrapper.
    """

    #: the store lives in this process's memory: other processes (the processes
    #: scheduler, a Client's workers) cannot reach it, and ``scheduler=None`` stays here
    in_process: ClassVar[bool] = False
    #: the history line names the store (a path or a URL; not an object's repr)
    named: ClassVar[bool] = True
    #: a writer's liveness is a lease object it refreshes (no process to ask about)
    leased: ClassVar[bool] = False
    #: its store calls wait on the network: a call runs many of them at once
    over_network: ClassVar[bool] = False

    given: Any
    path: Path | None = None
    storage_options: dict[str, Any] | None = None
    #: the store of the place itself (beneath any wrapper)
    _store: Any = field(default=None, repr=False, compare=False)
    #: the wrapper the user gave, that reads and writes go through; None for none
    _through: Any = field(default=None, repr=False, compare=False)

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
        return bool(getattr(self._store, "read_only", False))

    @property
    def locks_chunks(self) -> bool:
        """Whether single stored chunks can be locked (:mod:`xzarrio.chunklocks`)."""
        return False

    @property
    def journal_outlives_writer(self) -> bool:
        """Whether a journal of a write here lasts as long as the store does, so that
        :func:`xzarrio.repair` finds it after the writer was killed."""
        return True

    @property
    def lock_place(self) -> Any:
        """What :func:`xzarrio.chunklocks.hold_chunks` locks chunks of."""
        return self.zarr_store()

    @property
    def source(self) -> Any:
        """What ``encoding["source"]`` remembers of the store."""
        return self.given

    def zarr_store(self) -> Store:
        """The zarr store object to read and write through (made once per location):
        the wrapper the user gave, else the place's own store."""
        return cast(Store, self._store if self._through is None else self._through)

    def beside(self, name: str) -> Location | None:
        """The place beside this store called ``.<store name><name>``, where it has one."""
        return None

    def refuse_processes(self, who: str, *, client: bool) -> None:
        """Raise where the workers of *who* (in other processes; a Client's if *client*)
        cannot write to this store."""

    def folder_for_workers(self, *, in_place: bool) -> str | None:
        """The local folder a Client's workers must see to write here (the store, or
        where a new one is made unless *in_place*); None where no folder is needed."""
        return None


@dataclass(frozen=True, kw_only=True)
class LocalFolder(Location):
    """A store in a folder of a local (or shared, mounted) file system."""

    @property
    def root(self) -> Path:
        """The store's folder (absolute)."""
        assert self.path is not None
        return self.path

    @property
    def locks_chunks(self) -> bool:
        return True

    @property
    def lock_place(self) -> Any:
        return self.root

    @property
    def source(self) -> Any:
        return source_of_store(self.given)

    def folder_for_workers(self, *, in_place: bool) -> str | None:
        return str(self.root if in_place else self.root.parent)

    def store_at(self, path: Path) -> Store:
        """The store to write the folder *path* (a staging folder) through: a
        ``LocalStore`` of it, inside wrappers made as the user's wrappers of this
        store were (where they cannot be made again, the ``LocalStore`` alone)."""
        local = InlineLocalStore(path)
        if self._through is None:
            return local
        try:
            return rewrapped(self._through, local)
        except TypeError:  # a wrapper whose constructor needs more than the store
            return local

    def beside(self, name: str) -> Location | None:
        path = self.root.parent / f".{self.root.name}{name}"
        return LocalFolder(given=str(path), path=path, _store=InlineLocalStore(path))


@dataclass(frozen=True, kw_only=True)
class ObjectPrefix(Location):
    """A prefix of an object store (or any fsspec file system), named by a URL: reached
    through fsspec, or given as zarr's ``ObjectStore`` (:class:`ObstorePrefix`)."""

    leased: ClassVar[bool] = True
    over_network: ClassVar[bool] = True

    @property
    def prefix(self) -> str:
        """Where the store's keys lie, as its file system names it (fsspec: the bucket first)."""
        return str(cast(zarr.storage.FsspecStore, self._store).path).rstrip("/")

    @property
    def in_bucket_root(self) -> bool:
        """Whether the store is a bucket itself, with no prefix to lie beside."""
        return "/" not in self.prefix

    def beside(self, name: str) -> ObjectPrefix:
        parent, base = posixpath.split(self.prefix)
        if self.in_bucket_root or not base:
            raise InvalidArgumentError(
                f"{self.name!r} is at the root of its bucket, so there is no place beside it "
                "for xzarrio's staging and journal; write into a prefix instead, "
                "e.g. s3://bucket/name.zarr"
            )
        return self.inside(posixpath.join(parent, f".{base}{name}"), f"{self.given}{name}")

    def under(self, name: str) -> ObjectPrefix:
        """The prefix *name* under this one."""
        return self.inside(f"{self.prefix}/{name}", f"{str(self.name).rstrip('/')}/{name}")

    def around(self) -> Store | None:
        """The store of the prefix this one lies in (listing it lists this store's
        neighbours); None for a bucket itself."""
        if self.in_bucket_root:
            return None
        return self.inside(posixpath.dirname(self.prefix), "").zarr_store()

    def inside(self, path: str, given: str) -> ObjectPrefix:
        """The prefix *path* of the same file system, called *given* in messages."""
        store = cast(zarr.storage.FsspecStore, self._store)
        return ObjectPrefix(given=given, _store=zarr.storage.FsspecStore(store.fs, path=path))


#: URL schemes of obstore's stores of a bucket (or container), by class name
_OBSTORE_SCHEMES = {"S3Store": "s3", "GCSStore": "gs", "AzureStore": "az"}


def is_obstore_prefix(store: Any) -> bool:
    """Whether *store* is zarr's ``ObjectStore`` over obstore's store of a bucket
    (S3, GCS or Azure), whose neighbouring prefixes xzarrio can reach."""
    if not isinstance(store, zarr.storage.ObjectStore):
        return False
    inner = store.store
    return type(inner).__name__ in _OBSTORE_SCHEMES and inner.__module__.startswith("obstore")


@dataclass(frozen=True, kw_only=True)
class ObstorePrefix(ObjectPrefix):
    """A prefix of a bucket given as zarr's ``ObjectStore`` over obstore's ``S3Store``,
    ``GCSStore`` or ``AzureStore`` (opt-in: URLs are reached through fsspec)."""

    @property
    def _bucket_store(self) -> Any:
        return cast(zarr.storage.ObjectStore[Any], self._store).store

    @property
    def prefix(self) -> str:
        # obstore's prefixes are within the bucket, which the store's config names
        return str(self._bucket_store.prefix or "").strip("/")

    @property
    def in_bucket_root(self) -> bool:
        return not self.prefix

    @property
    def name(self) -> str:
        inner = self._bucket_store
        config = inner.config
        bucket = config.get("bucket") or config.get("container_name") or ""
        return f"{_OBSTORE_SCHEMES[type(inner).__name__]}://{bucket}/{self.prefix}"

    @property
    def shown(self) -> str:
        return repr(self.name)

    def inside(self, path: str, given: str) -> ObstorePrefix:
        store = zarr.storage.ObjectStore(obstore_at(self._bucket_store, path))
        return ObstorePrefix(given=store, _store=store)


#: obstore's stores made at other prefixes of a bucket, by :func:`_obstore_key`
_OBSTORE_AT: dict[tuple[Any, ...], Any] = {}


def obstore_at(store: Any, prefix: str) -> Any:
    """obstore's *store* of a bucket, at *prefix* of that bucket (``""``: the bucket).

    Made once per bucket, settings and prefix: making one costs milliseconds (its own
    HTTP client), and a write looks beside its store several times.
    """
    key = (*_obstore_key(store), prefix)
    made = _OBSTORE_AT.get(key)
    if made is None:
        if len(_OBSTORE_AT) >= 256:
            del _OBSTORE_AT[next(iter(_OBSTORE_AT))]  # the oldest
        made = type(store)(
            prefix=prefix or None,
            config=store.config,
            client_options=store.client_options,
            retry_config=store.retry_config,
            credential_provider=store.credential_provider,
        )
        _OBSTORE_AT[key] = made
    return made


def _obstore_key(store: Any) -> tuple[Any, ...]:
    """What names obstore's *store* of a bucket but for its prefix: its class, settings
    and credential provider (by identity; a made store keeps it alive)."""
    settings = [store.config, store.client_options, store.retry_config]
    return (type(store), json.dumps(settings, sort_keys=True, default=str),
            id(store.credential_provider))  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class StoreObject(Location):
    """A zarr store object given as it is, that xzarrio cannot name or hand to other
    processes: a ``MemoryStore``, or another store object (an obstore ``ObjectStore``,
    a user's own); its writes stay in this process."""

    in_process: ClassVar[bool] = True
    named: ClassVar[bool] = False

    @property
    def locks_chunks(self) -> bool:
        # a lock of this process serves: nothing outside it writes a MemoryStore
        return isinstance(self._store, zarr.storage.MemoryStore)

    @property
    def lock_place(self) -> Any:
        return self._store  # beneath a wrapper: one lock for every wrapper of it

    @property
    def journal_outlives_writer(self) -> bool:
        # its journal is in this process's memory: as lasting as a MemoryStore, and
        # only as lasting as that
        return isinstance(self._store, zarr.storage.MemoryStore)

    def refuse_processes(self, who: str, *, client: bool) -> None:
        kind = "memory" if isinstance(self._store, zarr.storage.MemoryStore) else "object"
        raise InvalidArgumentError(
            f"{who} cannot write to this {kind} store: its workers run in other processes "
            "and would work on copies of it; use scheduler='threads', or a store that "
            "the workers can reach (a shared path, an object store URL)"
        )


@dataclass(frozen=True, kw_only=True)
class IcechunkSession(Location):
    """A writable ``icechunk.Session``: its store, committed once per write."""

    named: ClassVar[bool] = False

    @property
    def read_only(self) -> bool:
        return bool(getattr(self.given, "read_only", False))

    def zarr_store(self) -> Store:
        return cast(Store, self.given.store)

    def refuse_processes(self, who: str, *, client: bool) -> None:
        if not client:
            raise InvalidArgumentError(
                "the processes scheduler cannot write to an icechunk session: the changes "
                "its processes make never come back to it; use scheduler='threads' or a "
                "distributed.Client (the session is forked to the workers and merged back)"
            )


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
        if path.is_symlink():  # written through, as xarray does: the link stays a link
            path = path.resolve()
        read_only = isinstance(store, zarr.storage.LocalStore) and store.read_only
        local = InlineLocalStore(path, read_only=read_only)
        return LocalFolder(given=store, path=path, _store=local)
    if is_icechunk_session(store):
        return IcechunkSession(given=store)
    if isinstance(store, str):
        return ObjectPrefix(
            given=store, storage_options=storage_options,
            _store=_fsspec_store(store, storage_options),
        )  # fmt: skip
    if isinstance(store, zarr.storage.FsspecStore):
        return ObjectPrefix(given=store, _store=store)
    if is_obstore_prefix(store):
        return ObstorePrefix(given=store, _store=store)
    if isinstance(store, zarr.storage.WrapperStore):
        return _locate_wrapper(store)
    if isinstance(store, Store):
        _check_undoable(store)
        sync(ensure_open(store))  # as zarr opens it (a ZipStore made but not opened)
        return StoreObject(given=store, _store=store)
    raise ArgumentTypeError(
        f"store={store!r} is not understood; expected a path, a URL such as "
        "'s3://bucket/out.zarr', a zarr store object or an icechunk.Session"
    )


def _locate_wrapper(wrapper: zarr.storage.WrapperStore[Any]) -> Location:
    """A wrapped store: located as the store beneath it, written through *wrapper*."""
    beneath: Store = wrapper
    while isinstance(beneath, zarr.storage.WrapperStore):
        beneath = wrapped_store(beneath)
    return replace(locate(beneath), given=wrapper, _through=wrapper)


def _check_undoable(store: Store) -> None:
    """Refuse a writable store object that cannot delete keys (a ``ZipStore``): no
    failed write to it could be undone. Read-only, it is read as it is."""
    if store.supports_deletes or store.read_only:
        return
    raise InvalidArgumentError(
        f"store={store!r} cannot delete or replace a key (a zip file cannot), so xzarrio "
        "could not undo a failed write to it; to write, give a path (a folder) and zip it "
        "afterwards (cd out.zarr && zip -r0 ../out.zip .); to read, open it read-only "
        "(ZipStore(path, mode='r'))"
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


#: file systems whose options beyond their own parameters all go to one other callable
#: (s3fs hands them to aiobotocore's session), so that every option they take is known
_REST_OF_THE_OPTIONS = {"s3fs.core.S3FileSystem": ("aiobotocore.session", "AioSession")}

#: options that fsspec's base classes take of every file system
_FSSPEC_OPTIONS = frozenset(
    {"use_listings_cache", "listings_expiry_time", "max_paths", "skip_instance_cache"}
)


def _check_option_names(url: str, storage_options: dict[str, Any]) -> None:
    """Refuse options that the URL's file system does not take (a typo such as ``secrt``),
    where all it takes is known; xarray's call fails at its first request instead."""
    if "::" in url or "://" not in url or not storage_options:
        return
    try:
        cls = fsspec.get_filesystem_class(url.split("://")[0])
    except (ImportError, ValueError):
        return  # an unknown protocol or a missing package: fsspec says which
    known = _options_taken(cls)
    for name in storage_options:
        if known and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ArgumentTypeError(
                f"storage_options has {name!r}, which {cls.__name__} ({url.split(':')[0]}://) "
                f"does not take; {hint}it takes {sorted(known)}"
            )


@functools.cache
def _options_taken(cls: type) -> frozenset[str]:
    """Every option the file system class *cls* takes, or nothing where that is unknown."""
    rest = _REST_OF_THE_OPTIONS.get(f"{cls.__module__}.{cls.__qualname__}")
    if rest is None:
        return frozenset()
    takers = [*cls.__mro__, getattr(importlib.import_module(rest[0]), rest[1])]
    known = set(_FSSPEC_OPTIONS)
    for taker in takers:
        init = vars(taker).get("__init__")
        if init is not None:
            known.update(
                name for name, p in inspect.signature(init).parameters.items()
                if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            )  # fmt: skip
    return frozenset(known)


def _fsspec_store(url: str, storage_options: dict[str, Any] | None) -> zarr.storage.FsspecStore:
    _check_option_names(url, storage_options or {})
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


@contextmanager
def first_write(location: Location, what: str) -> Iterator[None]:
    """Where the first thing a write puts beside *location* is refused (*what* it
    could not do: ``"write its journal"``, ``"stage its replacement"``), raise
    :class:`~xzarrio.errors.StoreNotWritableError`: nothing is there yet, so nothing
    was written."""
    try:
        yield
    except Exception as error:
        if not _refuses_writes(error):
            raise
        given = "in storage_options" if location.storage_options else "to the store"
        raise StoreNotWritableError(
            f"the store {location.shown} takes no writes here ({error}); xzarrio could not "
            f"{what} beside it, and wrote nothing. Check the credentials given "
            f"{given} and that they may write to this bucket and prefix"
        ) from error


def _refuses_writes(error: Exception) -> bool:
    """Whether *error* is a store's refusal to write: a ``PermissionError`` (local files,
    fsspec), or obstore's own refusals, which are no ``OSError``."""
    kind = type(error)
    refusals = ("PermissionDeniedError", "UnauthenticatedError")
    by_obstore = kind.__module__.startswith("obstore") and kind.__name__ in refusals
    return isinstance(error, PermissionError) or by_obstore


def key_prefix(path: str | None) -> str:
    """What the store keys under the node (group or array) at *path* begin with:
    ``""`` for the root (None or ``""``), else the path and a ``/``."""
    path = (path or "").strip("/")
    return f"{path}/" if path else ""


async def group_attributes(store: Store, path: str | None) -> tuple[str, dict[str, Any]] | None:
    """The attributes of the group at *path* and the key they were read from: its own
    metadata (format 3's ``zarr.json``, else format 2's ``.zattrs``), not the consolidated
    copy, read without zarr making objects of its arrays' metadata. None where there
    is none, or where it does not read (zarr says which)."""
    prefix = key_prefix(path)
    for name, inside in (("zarr.json", "attributes"), (".zattrs", None)):
        found = await store.get(prefix + name, prototype=default_buffer_prototype())
        if found is None:
            continue
        try:
            document = json.loads(found.to_bytes())
        except ValueError:
            return None
        attrs = document.get(inside, {}) if inside and isinstance(document, dict) else document
        return (prefix + name, attrs) if isinstance(attrs, dict) else None
    return None


async def list_names(store: Store, prefix: str = "") -> list[str]:
    """The names directly under *prefix* of *store* (keys and folders, no trailing slash)."""
    return [name.rstrip("/") async for name in store.list_dir(prefix)]


async def copy_key(source: Store, key: str, target: Store, target_key: str) -> bool:
    """Copy *key* of *source* to *target_key* of *target*; False if *source* lacks it.

    Between two stores of one fsspec file system, or two prefixes of one bucket
    given as obstore's, that copies on the server (S3's CopyObject), so the bytes
    never travel through this process.
    """
    FsspecStore = zarr.storage.FsspecStore
    try:
        if isinstance(source, FsspecStore) and isinstance(target, FsspecStore):
            if source.fs is target.fs and fs_has_cp_file(source.fs):
                await fs_cp_file(source.fs, f"{source.path}/{key}", f"{target.path}/{target_key}")
                return True
        elif _in_one_bucket(source, target):
            await _copy_in_bucket(source, key, target, target_key)
            return True
    except FileNotFoundError:
        return False
    value = await source.get(key, prototype=default_buffer_prototype())
    if value is None:
        return False
    await target.set(target_key, value)
    return True


async def delete_under(store: Store, prefix: str = "") -> None:
    """Delete every key under the folder *prefix* of *store* (``""``: all of it).

    obstore's stores of a bucket delete them in one request per thousand keys
    (S3's DeleteObjects) where zarr's ``delete_dir`` makes one per key.
    """
    if not is_obstore_prefix(store):
        await store.delete_dir(prefix)
        return
    import obstore

    inner = cast(Any, store).store
    folder = prefix if not prefix or prefix.endswith("/") else f"{prefix}/"
    paths = [meta["path"] for meta in await obstore.list(inner, folder or None).collect_async()]
    if paths:
        await obstore.delete_async(inner, paths)


def _in_one_bucket(one: Store, other: Store) -> bool:
    """Whether *one* and *other* are obstore's stores of one bucket, with one's settings."""
    if not (is_obstore_prefix(one) and is_obstore_prefix(other)):
        return False
    here, there = cast(Any, one).store, cast(Any, other).store
    return _obstore_key(here) == _obstore_key(there)


async def _copy_in_bucket(source: Any, key: str, target: Any, target_key: str) -> None:
    """Copy *key* of one prefix of a bucket to *target_key* of another, on the server."""
    import obstore

    whence = posixpath.join(source.store.prefix or "", key)
    whither = posixpath.join(target.store.prefix or "", target_key)
    await obstore.copy_async(obstore_at(source.store, ""), whence, whither)


def is_zarr_dir(path: Path, group: str | None = None) -> bool:
    """Whether the local directory *path* (at *group*) holds zarr metadata."""
    where = path / group if group else path
    return where.is_dir() and any((where / marker).exists() for marker in ZARR_MARKERS)


def check_readable(store: Any, group: str | None = None) -> None:
    """Raise a clear error when *store* is missing or holds no zarr.

    Parameters
    ----------
    store : object
        A path, or the :class:`Location` of a store; the location of an object-store
        prefix is asked for the group's metadata (one request per marker).
    group : str, optional
        The group that must be there.

    Raises
    ------
    xzarrio.errors.StoreNotFoundError
        Where nothing is (a path that does not exist, a prefix that holds no zarr),
        or the group is not there; a ``FileNotFoundError``.
    xzarrio.errors.NotAZarrStoreError
        Where a local path holds something that is not zarr.

    Other URLs and store objects are left to zarr and fsspec, which raise their own.
    """
    if isinstance(store, ObjectPrefix):
        _check_prefix_readable(store, group)
        return
    path = store.path if isinstance(store, Location) else local_path(store)
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


def _check_prefix_readable(location: ObjectPrefix, group: str | None) -> None:
    """A missing store (or group) in an object store is a ``StoreNotFoundError``, as a
    missing local path is (zarr raises its ``GroupNotFoundError``)."""
    store = location.zarr_store()

    def holds(where: str) -> bool:
        return any(sync(store.exists(where + marker)) for marker in ZARR_MARKERS)

    if holds(""):
        if group and not holds(f"{group}/"):
            raise StoreNotFoundError(f"no group {group!r} in the zarr store {location.shown}")
        return
    raise StoreNotFoundError(
        f"no zarr store at {location.shown}: nothing there holds zarr metadata "
        f"({ZARR_MARKERS[0]!r} or a zarr 2 marker); check the URL and storage_options"
    )


def open_root(
    store: Any,
    *,
    group: str | None = None,
    mode: Literal["r", "r+"] = "r",
    storage_options: dict[str, Any] | None = None,
    zarr_format: int | None = None,
) -> zarr.Group:
    """Open the zarr group of a store, after :func:`check_readable` (of its location,
    for a URL: a missing store in an object store is named as a missing path is)."""
    url = isinstance(store, str) and local_path(store) is None
    check_readable(locate(store, storage_options) if url else store, group)
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
            zarr_format=cast(ZarrFormat | None, zarr_format),
        )
