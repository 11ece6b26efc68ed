"""A write's checks hold under the store's lock; the generations a write gives.

The checks of a write against an existing store are made when it is planned,
before it holds the store's lock (a local store) or its journal (an object
store). Once it holds them, :func:`begin_checked` compares the ``structure``
generation of every array of the group with the one the checks saw: if
another writer began since, :class:`StoreMovedOn` sends the write back to be
planned (and checked) again, before it has written anything.

:func:`begin_checked` and :func:`mark_written` give the arrays a write changes
their new generations, for readers (:mod:`xzarrio.consistency`) and the
writers after it (:mod:`xzarrio.journal.generations`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping

from zarr.abc.store import Store

from ..journal import Generation, advance_generations, group_generations
from ..seams import sync
from ..stores import key_prefix
from .manifests import TrustedManifests, check_manifests
from .plan import WritePlan

__all__ = ["StoreMovedOn", "begin_checked", "mark_written"]


class StoreMovedOn(Exception):
    """Another writer began changing the store's structure after this write's checks."""


def _changes_structure(plan: WritePlan) -> bool:
    """Whether the write changes shapes, codecs or coordinates (all but a region write)."""
    return plan.region is None


def begin_checked(
    plan: WritePlan, store: Store
) -> tuple[dict[str, Generation], TrustedManifests | None]:
    """Under the write's lock, before it writes anything: the checks again, and the new
    generations of the arrays it changes (one trip to zarr's event loop); with them,
    the manifests checked, where they hold until the write ends (:func:`check_manifests`).

    Raises :class:`StoreMovedOn` where the group's arrays or their structure differ
    from what the write's checks saw, before a
    :class:`~xzarrio.errors.ManifestError` for a manifest it cannot trust (*store*:
    the write's own).
    """
    return sync(_begin_checked(plan, store))


async def _begin_checked(
    plan: WritePlan, store: Store
) -> tuple[dict[str, Generation], TrustedManifests | None]:
    raw, prefix = plan.target.location.zarr_store(), key_prefix(plan.group)
    current, manifests = await asyncio.gather(
        group_generations(raw, prefix), check_manifests(plan, store), return_exceptions=True
    )
    if isinstance(current, BaseException):
        raise current
    seen = plan.target.generations
    if set(current) != set(seen) or any(current[n].structure != seen[n].structure for n in current):
        raise StoreMovedOn(plan.target.location.shown)
    if isinstance(manifests, BaseException):
        raise manifests
    changed = {prefix + n: current[n] for n in _written(plan, current)}
    begun = await advance_generations(raw, changed, structure=_changes_structure(plan))
    return {name[len(prefix) :]: gen for name, gen in begun.items()}, manifests


def _written(plan: WritePlan, current: Mapping[str, Generation]) -> list[str]:
    """The arrays of the store the write changes, by name in the group."""
    return [str(n) for n in plan.ds.variables if str(n) in current]


def mark_written(plan: WritePlan, store: Store, begun: Mapping[str, Generation]) -> None:
    """New generations for every array the write wrote, before it commits.

    The arrays that were there (*begun*) are marked on the store itself, never
    through the write's journal: a rollback leaves them new, so that a reader
    that may have read this write's chunks finds out. The arrays the write
    made are marked through *store*, the write's own (its staging, or its
    journal, which a rollback removes them with).
    """
    prefix = key_prefix(plan.group)
    made = {prefix + str(n): Generation() for n in plan.ds.variables if str(n) not in begun}
    kept = {prefix + n: generation for n, generation in begun.items()}
    raw = plan.target.location.zarr_store()
    sync(
        _both(
            advance_generations(store, made, structure=True),
            advance_generations(raw, kept, structure=_changes_structure(plan)),
        )
    )


async def _both(*steps: Awaitable[object]) -> None:
    """Await *steps* at once: one trip to zarr's event loop."""
    await asyncio.gather(*steps)
