"""After the data: the manifest of every variable the write touched (see
:mod:`xzarrio.integrity.manifest`).

The digests come from the write's store (:class:`~xzarrio.writing.guard.GuardedStore`),
which zarr's pipeline handed each chunk's digest to, and, on a
``distributed.Client``, from the workers. The processes scheduler's workers
keep theirs: the chunks of the variables written are then read back.
A chunk that a region write covered only in part is read back too, under the
manifest's lock, since another writer may have written its other part since.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping
from typing import Any

import zarr
from zarr.api.asynchronous import open_array

from ..integrity.digests import use_digests
from ..integrity.manifest import delete_manifest, keeps_manifests, update_manifest
from ..integrity.readback import chunk_prefix, digests_of
from ..journal import gather_bounded
from ..running import Gate
from ..seams import sync
from .guard import GuardedStore, gather_digests
from .plan import WritePlan

__all__ = ["record_manifests"]


def record_manifests(plan: WritePlan, store: GuardedStore, gate: Gate) -> None:
    """Record the digests of the chunks the write stored in its variables' manifests.

    Where zarr's codec pipeline is not xzarrio's (a user chose another), no
    digest was taken: the manifests of the variables written are removed
    rather than left to say what is no longer there. An icechunk repository
    holds zarr's keys only: it gets none.
    """
    if not keeps_manifests(store):
        return
    arrays = {name: a for name, a in _arrays(plan, store).items() if a.shards is None}
    if not use_digests():
        sync(gather_bounded(delete_manifest(store, a.path) for a in arrays.values()))
        return
    digests = gather_digests(gate, store)
    alone = _runs_alone(plan)
    changes = {name: _changes(plan, array, digests) for name, array in arrays.items()}
    existing = plan.target.existing
    new = {name: existing is None or name not in existing.variables for name in arrays}
    sync(
        gather_bounded(
            update_manifest(store, array.path, changes[name], new=new[name], alone=alone)
            for name, array in arrays.items()
            if changes[name] or new[name]  # a new array gets its manifest, empty or not
        )
    )


def _arrays(plan: WritePlan, store: GuardedStore) -> dict[Hashable, zarr.Array[Any]]:
    """The arrays of the variables written, opened at once (not through the group:
    an in-place write consolidates its metadata after this)."""
    prefix = f"{plan.group.strip('/')}/" if plan.group else ""
    names = list(plan.ds.variables)

    async def opened() -> list[Any]:
        return list(
            await asyncio.gather(
                *(open_array(store=store, path=f"{prefix}{name}", mode="r") for name in names)
            )
        )

    return {name: zarr.Array(array) for name, array in zip(names, sync(opened()), strict=True)}


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
