"""Look at the place a write goes, once: what is there, in what format, writable or not.

:func:`look` returns one :class:`Target` subclass per kind of target: a new
local store, a new store in an object store or a store object, an existing
one of each, an icechunk session; ``_target`` is where the kind is picked.
Each owns its transaction and what xarray is told of it, so that nothing
after the look asks which kind it has. (The look itself asks of the place
what only a local folder or a session has: its path, a session's changes.)
"""

from __future__ import annotations

import inspect
import os
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

import xarray as xr
import zarr
from xarray.conventions import decode_cf_variable

from ..errors import (
    InvalidArgumentError,
    NotAZarrStoreError,
    StoreExistsError,
    StoreNotFoundError,
    StoreNotWritableError,
    XzarrioError,
)
from ..journal import (
    Generation,
    WriteWatch,
    check_journal_lasts,
    check_store,
    group_generations,
)
from ..running import Gate
from ..seams import sync
from ..stores import (
    ZARR_MARKERS,
    IcechunkSession,
    LocalFolder,
    Location,
    ZarrFormat,
    is_zarr_dir,
    key_prefix,
)
from . import transactions
from .request import WriteRequest
from .transactions import Transaction

#: how often the metadata of a store that writers change is read before giving up
_READS = 100

__all__ = [
    "ExistingLocalStore",
    "ExistingObjectStore",
    "IcechunkTarget",
    "NewLocalStore",
    "NewObjectStore",
    "Target",
    "look",
]


@dataclass(frozen=True, kw_only=True)
class Target(ABC):
    """What is at the place of a write, seen before anything is written; a subclass
    per kind of target, which owns what differs between kinds (its transaction above
    all). :func:`look` picks the subclass, once.

    Attributes
    ----------
    location : Location
        Where the store is.
    existing : xarray.Dataset or None
        For an append or a region write, the store as it is (opened lazily,
        without indexes: :func:`~xzarrio.writing.checks.stored_index` builds
        one where a check needs it); None for a new store or group.
    zarr_format : {2, 3}
        The store's format, or for a new store the one it will have.
    groups : frozenset of str
        The names of the groups the existing store holds in the written group.
    group : str or None
        The group written (xarray's ``group=``); None for the root.
    generations : mapping of str to Generation
        For an existing store, the generation of each array of the group (by
        name), read before its metadata: what the write's checks were made
        against (:mod:`xzarrio.journal.generations`).
    """

    #: ``compute=False`` can write a template now and fill it later
    holds_templates: ClassVar[bool] = True
    #: no other xzarrio writer changes the store's manifests and metadata while this
    #: one does (a new store; a local store, under its metadata lock; a session); on
    #: an object store region writers run side by side, and add manifest fragments
    writers_serialised: ClassVar[bool] = True

    location: Location
    existing: xr.Dataset | None
    zarr_format: ZarrFormat
    groups: frozenset[str] = frozenset()
    group: str | None = None
    generations: Mapping[str, Generation] = field(default_factory=dict)

    @property
    @abstractmethod
    def in_place(self) -> bool:
        """Whether the write changes a store that is there (an append, a region write,
        a group written beside others), rather than making a new one."""

    #: the kind of transaction a write here runs in
    transaction_kind: ClassVar[type[Transaction]]

    def transaction(self, *, mode: str, operation: str, gate: Gate) -> Transaction:
        """The all-or-nothing frame of a write in *mode* here."""
        return self.transaction_kind(self.location, mode=mode, operation=operation, gate=gate)

    def to_zarr_keywords(self, request: WriteRequest) -> dict[str, Any]:
        """What xarray's ``to_zarr`` is told of the store: a new one is made whole
        (staged); one that is there is written in its own mode, and its metadata is
        consolidated once, after the data and the provenance (see the stamp of its
        transaction)."""
        if not self.in_place:
            return {"mode": "w-", "append_dim": None, "consolidated": request.consolidated}
        return {
            "mode": request.mode,
            # "a" where nothing was appends to nothing: a new group is made whole
            "append_dim": request.append_dim if self.existing is not None else None,
            "consolidated": False,
        }


class NewLocalStore(Target):
    """A new store in a local folder: staged beside it, swapped in whole."""

    in_place = False
    transaction_kind = transactions.StagedFolder


class NewObjectStore(Target):
    """A new store in an object-store prefix or a store object: written in place
    where nothing is, else staged beside it and copied into place."""

    in_place = False
    transaction_kind = transactions.StagedPrefix


class ExistingLocalStore(Target):
    """A local store that is there: changed in place, under its locks and a journal."""

    in_place = True
    transaction_kind = transactions.InPlaceLocal


class ExistingObjectStore(Target):
    """An object store (or store object) that is there: changed in place under a journal.

    Object stores have no locks: region writers run side by side.
    """

    in_place = True
    writers_serialised = False
    transaction_kind = transactions.InPlaceObject


@dataclass(frozen=True, kw_only=True)
class IcechunkTarget(Target):
    """An ``icechunk.Session``: written as it is, committed once (never staged)."""

    holds_templates: ClassVar[bool] = False

    #: whether the session's store holds the written group already
    changes_existing: bool = False

    @property
    def in_place(self) -> bool:
        return self.changes_existing

    def transaction(self, *, mode: str, operation: str, gate: Gate) -> Transaction:
        return transactions.IcechunkCommit(
            self.location, mode=mode, operation=operation, gate=gate, in_place=self.in_place
        )

    def to_zarr_keywords(self, request: WriteRequest) -> dict[str, Any]:
        # nothing to stage: xarray writes the session in the call's own mode
        return {**super().to_zarr_keywords(request), "mode": request.mode}


def _target(location: Location, *, in_place: bool, **seen: Any) -> Target:
    """The target of the kind that *location* and *in_place* make: the one place
    that picks among them."""
    if isinstance(location, IcechunkSession):
        return IcechunkTarget(location=location, changes_existing=in_place, **seen)
    local = isinstance(location, LocalFolder)
    kind: type[Target]
    if in_place:
        kind = ExistingLocalStore if local else ExistingObjectStore
    else:
        kind = NewLocalStore if local else NewObjectStore
    return kind(location=location, **seen)


def look(location: Location, request: WriteRequest) -> Target:
    """The :class:`Target` of the write *request* to *location*; refuses what cannot be.

    ``mode="a"`` (or ``"a-"``) where no store is yet makes one, as in xarray;
    a region write needs the store. A group of a store that exists is
    written in place, whatever the mode: the store's other groups stay. A
    write that changes a store whose journal would die with the writer (an
    append, a region write, a replace) is refused here, before anything is
    computed.
    """
    target = _look(location, request)
    if not location.journal_outlives_writer:
        replacing = request.mode == "w" and not target.in_place and _holds_zarr(location)
        if target.in_place or replacing:
            check_journal_lasts(location, request.operation)
    return target


def _look(location: Location, request: WriteRequest) -> Target:
    mode, zarr_format, group = request.mode, request.zarr_format, request.group
    if location.read_only:
        raise StoreNotWritableError(
            f"the store {location.shown} is read-only (opened with read_only=True); "
            "open it writable to write to it"
        )
    if isinstance(location, IcechunkSession) and location.given.has_uncommitted_changes:
        raise InvalidArgumentError(
            "this icechunk session already holds uncommitted changes; xzarrio commits "
            "a write on its own, so give it a fresh one: repo.writable_session('main')"
        )
    # an interrupted write first: repairing it later would undo this one
    check_store(location, writing=True)
    creating = mode in ("a", "a-") and request.region is None
    absent = (group is not None or creating) and _absent(location)  # looked at once
    if group is not None and not absent:
        return _look_at_group(location, request, group, creating)
    if mode in ("w", "w-") or (creating and absent):
        _check_new(location, mode)
        fmt = cast(ZarrFormat, zarr_format or zarr.config.get("default_zarr_format"))
        return _target(location, in_place=False, existing=None, zarr_format=fmt, group=group)
    return _look_at_existing(location, request)


def _look_at_existing(location: Location, request: WriteRequest) -> Target:
    # the store's own listing: consolidated metadata may not know a group added since;
    # the generations before the metadata, so that a change after them shows
    generations, (existing, root) = _seen_steadily(location, request)
    fmt = _same_format(root, request.zarr_format)
    return _target(
        location, in_place=True, existing=existing, zarr_format=fmt, group=request.group,
        groups=frozenset(generations) - set(existing.variables), generations=generations,
    )  # fmt: skip


def _seen_steadily(
    location: Location, request: WriteRequest
) -> tuple[dict[str, Generation], tuple[xr.Dataset, zarr.Group]]:
    """The group's generations, then its metadata (:func:`_open_existing`); read again
    where another writer changed the metadata while it was read (no foreign error)."""
    prefix, watch = key_prefix(request.group), WriteWatch.of(location)
    for _ in range(_READS - 1):
        generations = sync(group_generations(location.zarr_store(), prefix))
        try:
            return generations, _open_existing(location, request)
        except XzarrioError:
            raise
        except Exception:
            moved = sync(group_generations(location.zarr_store(), prefix)) != generations
            if not (moved or sync(watch.under_way())):
                raise
        time.sleep(0.05)
    return sync(group_generations(location.zarr_store(), prefix)), _open_existing(location, request)


def _look_at_group(location: Location, request: WriteRequest, group: str, creating: bool) -> Target:
    """A group of an existing store: appended to, or (re)made in place beside the others."""
    mode, zarr_format = request.mode, request.zarr_format
    there = _holds_zarr(location, group)
    if mode in ("a", "a-", "r+") and (there or not creating):
        return _look_at_existing(location, request)
    if mode == "w-" and there:
        raise StoreExistsError(
            f"the group {group!r} already exists in {location.shown}; use mode='w' to "
            "replace it or mode='a' with append_dim to append to it"
        )
    root = zarr.open_group(location.zarr_store(), mode="r")
    fmt = _same_format(root, zarr_format)
    return _target(location, in_place=True, existing=None, zarr_format=fmt, group=group)


def _same_format(root: zarr.Group, zarr_format: int | None) -> ZarrFormat:
    fmt = root.metadata.zarr_format
    if zarr_format is not None and zarr_format != fmt:
        raise InvalidArgumentError(f"zarr_format={zarr_format} but the store is zarr format {fmt}")
    return fmt


def _check_new(location: Location, mode: str) -> None:
    if isinstance(location, LocalFolder):
        _check_new_path(location.root, mode)
        return
    if mode == "w-" and _holds_zarr(location):
        raise StoreExistsError(
            f"a store already exists at {location.shown}; use mode='w' to replace it or "
            "mode='a' with append_dim to append to it"
        )


def _absent(location: Location) -> bool:
    """Whether nothing is at *location* to append to: no path, or no zarr there."""
    if isinstance(location, LocalFolder):
        return not location.root.exists()
    return not _holds_zarr(location)


def _holds_zarr(location: Location, group: str | None = None) -> bool:
    store = location.zarr_store()
    # icechunk holds zarr 3 only, and has no format 2 keys to ask about
    markers = ("zarr.json",) if isinstance(location, IcechunkSession) else ZARR_MARKERS
    where = f"{group}/" if group else ""
    return any(sync(store.exists(where + marker)) for marker in markers)


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


#: ``open_dataset`` without xarray's default indexes, where this xarray can (its keyword
#: ``create_default_indexes``, of 2025 on): building them reads every dimension
#: coordinate, and :func:`~xzarrio.writing.checks.stored_index` builds the one a check needs
_WITHOUT_INDEXES: dict[str, Any] = (
    {"create_default_indexes": False}
    if "create_default_indexes" in inspect.signature(xr.open_dataset).parameters
    else {}
)


def _open_existing(location: Location, request: WriteRequest) -> tuple[xr.Dataset, zarr.Group]:
    """The store to append to or write a region of, opened lazily, and its (written) group."""
    group = request.group
    what = "append to" if request.mode.startswith("a") else "write to"
    if isinstance(location, LocalFolder):
        path = location.root
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
        root = _open_group(location, group)
    except (zarr.errors.GroupNotFoundError, FileNotFoundError):
        where = f"no group {group!r}" if group else "no zarr group"
        raise StoreNotFoundError(
            f"no zarr store in {location.shown}: it holds {where} to {what}"
        ) from None
    # xarray reads the group opened here, not the store again; a zarr format 2
    # store's fill value is its mask, as xarray's own open takes it
    store = xr.backends.ZarrStore(root, mode="r", use_zarr_fill_value_as_mask=_fill_is_mask(root))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _read_placing_coordinates(store, _placed_by(request)), root


def _placed_by(request: WriteRequest) -> set[Hashable]:
    """The dimensions whose stored coordinates the checks place the data by."""
    if request.append_dim is not None:
        return {request.append_dim}
    return set(request.region) if isinstance(request.region, Mapping) else set()


def _read_placing_coordinates(store: xr.backends.ZarrStore, dims: set[Hashable]) -> xr.Dataset:
    """The store's dataset, lazily but for the coordinates of *dims*: those are read now.

    xarray's lazy decoding of a time coordinate reads its first and last values
    to learn its type, and the check that places the data by it reads it all:
    opened undecoded, read once and decoded in memory, it is read once.
    """
    later = {str(dim): False for dim in dims}
    existing = xr.open_dataset(
        store, chunks=None, mask_and_scale=later, decode_times=later, decode_timedelta=later,
        **_WITHOUT_INDEXES,
    )  # fmt: skip
    undecoded = {name: existing.variables[name].load() for name in later if name in existing}
    if not undecoded:
        return existing
    decoded = {name: decode_cf_variable(name, raw) for name, raw in undecoded.items()}
    return existing.assign_coords(xr.Coordinates(decoded, indexes={}))


def _open_group(location: Location, group: str | None) -> zarr.Group:
    """The group *group* of the store, read as zarr format 3 first: zarr reads a group
    of a format it is not told from four keys at once (requests, on an object store),
    one of each format's; a format 2 store is looked for after."""
    try:
        return zarr.open_group(location.zarr_store(), mode="r", path=group or "", zarr_format=3)
    except (zarr.errors.GroupNotFoundError, FileNotFoundError):
        return zarr.open_group(location.zarr_store(), mode="r", path=group or "")


def _fill_is_mask(group: zarr.Group) -> bool:
    """Whether xarray's open takes the arrays' fill value as their mask (format 2)."""
    return bool(group.metadata.zarr_format == 2)
