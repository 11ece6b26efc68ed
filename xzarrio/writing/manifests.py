"""After the data: the manifest of every variable the write touched, and the group's record
of them, which the provenance stamp writes (see :mod:`xzarrio.integrity.manifest` and
:mod:`xzarrio.integrity.record`).

The digests come from the write's store (:class:`~xzarrio.writing.guard.GuardedStore`),
which zarr's pipeline handed each chunk's digest to, and, on a
``distributed.Client``, from the workers. The processes scheduler's workers
keep theirs: the chunks of the variables written are then read back.
A chunk that a region write covered only in part is read back too, under the
manifest's lock, since another writer may have written its other part since.

A write over a manifest it cannot trust (one that does not read, or that is
gone or not the one xzarrio wrote last, though the group records it) is
refused with a :class:`~xzarrio.integrity.manifest.ManifestError`: it would
otherwise fold a damage into a manifest that then looks whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import zarr
from zarr.abc.store import Store
from zarr.api.asynchronous import open_array

from ..integrity.digests import use_digests
from ..integrity.manifest import (
    MANIFEST_NAME,
    ManifestError,
    StoredManifest,
    delete_manifest,
    keeps_manifests,
    manifest_folder,
    read_stored,
    update_manifest,
)
from ..integrity.readback import chunk_prefix, digests_of
from ..integrity.record import (
    RECORD_KEY,
    Recorded,
    distrust,
    entry_of,
    read_record,
    record_value,
)
from ..journal import gather_bounded
from ..running import Gate
from ..seams import sync
from ..stores import key_prefix
from .guard import GuardedStore, gather_digests
from .plan import WritePlan

__all__ = ["ManifestsRecorded", "TrustedManifests", "check_manifests", "record_manifests"]

_T = TypeVar("_T")
#: the group's record of manifests (None: it has none), and the manifests read
TrustedManifests = tuple[dict[str, Recorded] | None, dict[str, StoredManifest]]


async def check_manifests(plan: WritePlan, store: Store) -> TrustedManifests | None:
    """Refuse a write to an existing group whose variables' manifests cannot be trusted,
    before anything is written (under the store's lock, where it has one); return what
    it read where they stay so until the write ends, for :func:`record_manifests`.

    They stay so where the write holds the store alone from now on: an in-place
    write but a region write. A region writer of a local store holds the lock
    shared: another one may be recording its manifests meanwhile, a manifest
    written and the record not yet. It refuses a manifest that does not read now;
    one that is gone or not the recorded one, after its data, under the metadata
    lock (:func:`record_manifests`).

    Raises
    ------
    ManifestError
        Naming the variable, the file, :func:`xzarrio.verify` and what
        :func:`xzarrio.repair` can and cannot do about it.
    """
    if not keeps_manifests(store) or plan.target.existing is None:
        return None
    alone = plan.mode != "r+" or not plan.target.writers_serialised
    names = [str(name) for name in plan.ds.variables]
    trusted = await _trusted(plan, store, names, judged=alone)
    return trusted if plan.mode != "r+" else None


@dataclass(frozen=True)
class ManifestsRecorded:
    """What :func:`record_manifests` did: the group's attributes that record the
    manifests (``{}`` where the record is as it was), for the stamp to write with the
    provenance; and the arrays written, opened after the data, by name in the group
    (None where none were opened), of which the stamp makes the consolidated copy."""

    attributes: dict[str, Any]
    arrays: dict[str, zarr.Array[Any]] | None


def record_manifests(
    plan: WritePlan, store: GuardedStore, gate: Gate, checked: TrustedManifests | None = None
) -> ManifestsRecorded:
    """Record the digests of the chunks the write stored in its variables' manifests.

    The manifests the write changes are checked first (:func:`check_manifests`), or
    taken as *checked* returned them at the write's beginning.
    Where zarr's codec pipeline is not xzarrio's (a user chose another), no
    digest was taken: the manifests of the variables written are removed
    rather than left to say what is no longer there. An icechunk repository
    holds zarr's keys only: it gets none.
    """
    if not keeps_manifests(store):
        return ManifestsRecorded({}, None)
    opened, trusted = sync(_opened_and_trusted(plan, store, checked))
    names = _names(plan, opened)
    attributes = _recorded(plan, store, gate, opened, trusted)
    return ManifestsRecorded(attributes, {names[n]: array for n, array in opened.items()})


def _recorded(
    plan: WritePlan,
    store: GuardedStore,
    gate: Gate,
    opened: dict[Hashable, zarr.Array[Any]],
    trusted: TrustedManifests,
) -> dict[str, Any]:
    """The manifests of the *opened* arrays updated; the record's attributes."""
    record, old = trusted
    arrays = {name: a for name, a in opened.items() if a.shards is None}
    names = _names(plan, arrays)
    entries = _base_record(plan, store, record)
    if not use_digests():
        sync(gather_bounded(delete_manifest(store, a.path) for a in arrays.values()))
        entries = {name: entry for name, entry in entries.items() if name not in names.values()}
        return _record_attributes(plan, record, entries)
    digests = gather_digests(gate, store)
    alone = _runs_alone(plan)
    changes = {name: _changes(plan, array, digests) for name, array in arrays.items()}
    touched = [name for name in arrays if changes[name] or old.get(names[name]) is None]
    written = sync(
        _gather(
            update_manifest(
                store, arrays[name].path, changes[name], old=old.get(names[name]), alone=alone
            )
            for name in touched  # a new array gets its manifest, empty or not
        )
    )
    for name, manifest in zip(touched, written, strict=True):
        entries[names[name]] = entry_of(manifest, entries.get(names[name]))
    return _record_attributes(plan, record, entries)


async def _opened_and_trusted(
    plan: WritePlan, store: GuardedStore, checked: TrustedManifests | None
) -> tuple[dict[Hashable, zarr.Array[Any]], TrustedManifests]:
    """The arrays of the variables written and what :func:`_trusted` reads (where
    *checked* is None): one trip."""
    if checked is not None:
        return await _arrays(plan, store), checked
    names = [str(name) for name in plan.ds.variables]
    arrays, trusted = await asyncio.gather(_arrays(plan, store), _trusted(plan, store, names))
    return arrays, trusted


def _names(plan: WritePlan, arrays: Mapping[Hashable, zarr.Array[Any]]) -> dict[Hashable, str]:
    """The name of each array in its group, as the record holds it."""
    prefix = key_prefix(plan.group)
    return {name: array.path.removeprefix(prefix) for name, array in arrays.items()}


def _group_path(plan: WritePlan) -> str:
    return (plan.group or "").strip("/")


async def _trusted(
    plan: WritePlan, store: Store, names: Iterable[str], *, judged: bool = True
) -> TrustedManifests:
    """The group's record (None: it has none) and the manifests of the variables *names*
    (in the group) that the store holds, as stored; a :class:`ManifestError` for one that
    does not read or, if *judged*, that the record says cannot be trusted.

    A writer that does not run alone leaves the fragments to others: it reads the main
    file only.
    """
    if plan.target.existing is None:
        return {}, {}
    group = _group_path(plan)
    merge = _runs_alone(plan)
    existing = [name for name in names if name in plan.target.existing.variables]
    paths = {name: f"{group}/{name}" if group else name for name in existing}

    async def read(name: str) -> StoredManifest:
        try:
            return await read_stored(store, paths[name], merge=merge)
        except ManifestError as error:
            what = f"the manifest of {name!r} does not read: {error}"
            raise _refusal(plan, error.key, what) from None

    async def read_group_record() -> dict[str, Recorded] | None:
        try:
            return await read_record(store, group)
        except ManifestError as error:
            what = f"the group's record of manifests: {error}"
            raise _refusal(plan, error.key, what) from None

    record, stored = await asyncio.gather(
        read_group_record(), _gather(read(name) for name in existing), return_exceptions=True
    )
    if isinstance(record, BaseException):  # the record's refusal first
        raise record
    if isinstance(stored, BaseException):
        raise stored
    for name, found in zip(existing, stored, strict=True):
        what = distrust(found, (record or {}).get(name)) if judged else None
        if what is not None:
            key = manifest_folder(paths[name]) + MANIFEST_NAME
            raise _refusal(plan, key, f"the manifest of {name!r} ({key!r}) {what}")
    return record, dict(zip(existing, stored, strict=True))


def _refusal(plan: WritePlan, key: str, what: str) -> ManifestError:
    shown = plan.target.location.shown  # quoted already
    return ManifestError(
        f"refused: {plan.operation} to {shown}: {what}; xzarrio writes nothing over a "
        f"manifest it cannot trust. Run xzarrio.verify({shown}) to see what else is "
        "damaged. xzarrio.repair cannot rebuild a manifest (it rolls back interrupted "
        "writes only): put the file back from a copy of the store or, if you trust the "
        "data as they are, copy the store with xzarrio (xzarrio copy SRC DST, or "
        "xzarrio.open_zarr(SRC).zio.to_zarr(DST)), which records new manifests of them",
        key=key,
    )


def _base_record(
    plan: WritePlan, store: GuardedStore, record: dict[str, Recorded] | None
) -> dict[str, Recorded]:
    """The record before this write: the group's, or, for a group written before xzarrio
    kept one, what the manifests of its variables say (those that read)."""
    if record is not None:
        return dict(record)
    assert plan.target.existing is not None  # a new group starts with an empty record
    group = _group_path(plan)
    names = [str(name) for name in plan.target.existing.variables]

    async def read(name: str) -> StoredManifest | None:
        try:
            return await read_stored(store, f"{group}/{name}" if group else name, merge=False)
        except ManifestError:
            return None  # verify reports it

    found = sync(_gather(read(name) for name in names))
    return {
        name: entry_of(stored.main)
        for name, stored in zip(names, found, strict=True)
        if stored is not None and stored.exists
    }


def _record_attributes(
    plan: WritePlan, record: dict[str, Recorded] | None, entries: dict[str, Recorded]
) -> dict[str, Any]:
    """The group's attributes that make *entries* its record, where they differ from
    *record* (as it was)."""
    if record is not None and entries == record and plan.target.existing is not None:
        return {}
    return {RECORD_KEY: record_value(entries)}


async def _arrays(plan: WritePlan, store: GuardedStore) -> dict[Hashable, zarr.Array[Any]]:
    """The arrays of the variables written, opened at once (not through the group:
    an in-place write consolidates its metadata after this)."""
    prefix = key_prefix(plan.group)
    names = list(plan.ds.variables)
    fmt = plan.target.zarr_format
    opened = await asyncio.gather(
        *(
            open_array(store=store, path=f"{prefix}{name}", mode="r", zarr_format=fmt)
            for name in names
        )
    )
    return {name: zarr.Array(array) for name, array in zip(names, opened, strict=True)}


async def _gather(coroutines: Iterable[Awaitable[_T]], limit: int = 64) -> list[_T]:
    """The results of *coroutines*, at most *limit* running at once."""
    gate = asyncio.Semaphore(limit)

    async def bounded(coroutine: Awaitable[_T]) -> _T:
        async with gate:
            return await coroutine

    return list(await asyncio.gather(*(bounded(c) for c in coroutines)))


def _runs_alone(plan: WritePlan) -> bool:
    """Whether no other writer can change the manifests meanwhile: a new store, an
    append (it runs alone), a local store (its lock is held), an icechunk session."""
    if not plan.target.in_place or plan.mode != "r+":
        return True
    return plan.target.writers_serialised


def _changes(
    plan: WritePlan, array: zarr.Array[Any], digests: Mapping[str, str | None]
) -> dict[str, str | None]:
    """The digest of each chunk of *array* the write stored (None: deleted), by key."""
    prefix = chunk_prefix(array)
    if plan.scheduler == "processes":
        return digests_of(array, None)
    found = {k.removeprefix(prefix): d for k, d in digests.items() if k.startswith(prefix)}
    shared = [chunk.index for chunk in plan.shared if chunk.name == _name_of(array, plan)]
    if shared:
        found.update(digests_of(array, shared))
    return found


def _name_of(array: zarr.Array[Any], plan: WritePlan) -> Hashable:
    return array.path.removeprefix(plan.group or "").lstrip("/")
