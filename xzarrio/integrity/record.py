"""The group's record of its manifests: which arrays have one, and the digest of each.

A manifest lives in its array's folder (:mod:`xzarrio.integrity.manifest`), so
that deleting it, or replacing it with another, would leave nothing to say it
was there. The group therefore records, in its attributes, each of its arrays
that has a manifest: the digest of the manifest's main file as xzarrio wrote it
last, and whether the manifest holds every chunk of the array::

    "_nc_xzarrio_manifests": {"t": {"digest": "1f0c…", "complete": true}, …}

The name starts with ``_nc``: xarray keeps such attributes for NCZarr and
shows none of them in ``Dataset.attrs``, so the record never reaches a user's
attributes, a copy's, or a netCDF file. zarr shows it. ``digest`` is None for
an array whose manifest has fragments only (region writers side by side on an
object store, over an array that had no manifest). A group without the record
was written before xzarrio kept one, or by another tool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zarr.abc.store import Store

from ..stores import group_attributes
from .manifest import MANIFEST_FOLDER, MANIFEST_NAME, Manifest, ManifestError, StoredManifest

__all__ = [
    "MANIFEST_KEY",
    "RECORD_KEY",
    "Recorded",
    "distrust",
    "entry_of",
    "read_record",
    "record_value",
]

#: the group attribute that holds the record (``_nc``: xarray does not show it)
RECORD_KEY = "_nc_xzarrio_manifests"
#: a manifest's main file, as the key of a problem relative to its array
MANIFEST_KEY = f"{MANIFEST_FOLDER}/{MANIFEST_NAME}"


@dataclass(frozen=True)
class Recorded:
    """What a group records of one array's manifest."""

    #: the digest of the manifest's main file as xzarrio wrote it last (None: fragments only)
    digest: str | None
    #: whether the manifest holds every chunk of the array
    complete: bool


def entry_of(manifest: Manifest | None, before: Recorded | None = None) -> Recorded:
    """The record of a manifest whose main file is now *manifest* (None: a writer added a
    fragment, and the main file is as *before* recorded it)."""
    if manifest is not None:
        return Recorded(manifest.digest, manifest.complete)
    return before if before is not None else Recorded(None, complete=False)


def record_value(entries: Mapping[str, Recorded]) -> dict[str, Any]:
    """The record as the group attribute holds it."""
    return {
        name: {"digest": entry.digest, "complete": entry.complete}
        for name, entry in sorted(entries.items())
    }


def _entry(entry: Any) -> Recorded | None:
    if not isinstance(entry, dict):
        return None
    digest, complete = entry.get("digest"), entry.get("complete")
    if (digest is None or isinstance(digest, str)) and isinstance(complete, bool):
        return Recorded(digest, complete)
    return None


def _parsed(value: Any, key: str) -> dict[str, Recorded]:
    entries = {str(n): _entry(e) for n, e in value.items()} if isinstance(value, dict) else None
    if entries is not None and None not in entries.values():
        return {name: entry for name, entry in entries.items() if entry is not None}
    raise ManifestError(
        f"the group attribute {RECORD_KEY!r} in {key!r} is not xzarrio's record of manifests: "
        f"expected {{name: {{'digest': ..., 'complete': ...}}}}, got {str(value)[:80]!r}",
        key=key,
    )


async def read_record(store: Store, group_path: str) -> dict[str, Recorded] | None:
    """The record of the group at *group_path*, read from its own metadata (not the
    consolidated copy); None where it has none (or no metadata).

    Raises :class:`ManifestError` where the attribute is there but is no record.
    """
    found = await group_attributes(store, group_path)
    if found is None or RECORD_KEY not in found[1]:
        return None
    key, attrs = found
    return _parsed(attrs[RECORD_KEY], key)


def distrust(stored: StoredManifest, recorded: Recorded | None) -> str | None:
    """What makes the manifest *stored* untrustworthy, given what its group records of it
    (*recorded*; None: nothing), as the end of a sentence about it; None if nothing does."""
    if recorded is None:
        return None
    if not stored.exists:
        return "is gone, though its group records one"
    if recorded.digest is None:  # fragments only, when it was recorded
        return None
    if stored.main is None:
        return "has lost its main file, though its group records one"
    if stored.main.digest != recorded.digest:
        return (
            f"is not the one xzarrio wrote last: its digest is {stored.main.digest!r}, its "
            f"group records {recorded.digest!r} (changed, replaced or restored since)"
        )
    return None
