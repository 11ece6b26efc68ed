"""The one place that picks the kind of journal for a store.

:func:`begin_journal` opens a new journal of the kind the store needs, its
header (the writer's record) written first; :func:`journals` finds the
journals a store has, of whichever kind.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from ..errors import InvalidArgumentError
from ..liveness import writer_record
from ..seams import sync
from ..stores import IcechunkSession, LocalFolder, Location, first_write
from .interface import _ACTIVE, _HEADER, Journal
from .local import LocalJournal, _local_journals
from .objectstore import StoreJournal, _encode, _journal_keys, _store_journals

__all__ = ["begin_journal", "check_journal_lasts", "journal_home", "journals"]


def begin_journal(location: Location, operation: str, *, fresh: bool = False) -> Journal:
    """Open a new journal for a write to *location*; its header is durable on return.

    A *fresh* journal is for a store that holds nothing yet (not local): it
    keeps nothing per key, and playing it back deletes the whole store. Any
    other is refused where it would not outlive the writer
    (:func:`check_journal_lasts`).
    """
    if not fresh:
        check_journal_lasts(location, operation)
    record = writer_record(lease=location.leased)
    record["operation"] = operation
    if fresh:
        record["fresh"] = True
    record["started"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    name = record["id"] = f"{record['pid']}-{uuid.uuid4().hex[:12]}"
    _ACTIVE.add(name)
    home = journal_home(location)
    if isinstance(home, Path):
        return LocalJournal.begin(home, name, record)
    keys = _journal_keys(location, name)
    with first_write(location, "write its journal"):
        sync(keys.set(_HEADER, _encode(record)))
    return StoreJournal(location.zarr_store(), keys, record)


def journals(location: Location) -> list[Journal]:
    """The journals of *location* that have a header, oldest first."""
    home = journal_home(location)
    found: list[Journal] = []
    if isinstance(home, Path):
        found.extend(_local_journals(home))
    elif home is not None:
        found.extend(_store_journals(home))
    return sorted(found, key=lambda j: str(j.record.get("started", "")))


def journal_home(location: Location) -> Path | Location | None:
    """Where the journals of *location* live: for a local store its folder (the
    journals lie beside it, :func:`~xzarrio.journal.local.journal_dir`); for an
    icechunk session nowhere (its uncommitted changes are its journal); else the
    location itself (keys in a sibling prefix, or in this process's memory)."""
    if isinstance(location, IcechunkSession):
        return None
    return location.root if isinstance(location, LocalFolder) else location


def check_journal_lasts(location: Location, operation: str) -> None:
    """Refuse a write that changes what is at *location* (an append, a region write, a
    replace) where its journal would die with the writer while the store lives on.

    Parameters
    ----------
    location : Location
        Where the write goes.
    operation : str
        What the write is, as messages name it (``"append"``, ``"region"``, ...).

    Raises
    ------
    xzarrio.errors.InvalidArgumentError
        For a store object other than zarr's Local, Fsspec and Memory stores and
        ``ObjectStore`` of a bucket (or a wrapper of one): its journal could live in
        this process's memory only, so a writer killed mid-write would leave it
        half-written with nothing to repair it.
    """
    if location.journal_outlives_writer:
        return
    kind = type(location.zarr_store()).__name__
    raise InvalidArgumentError(
        f"refusing the {operation} to this {kind} ({location.shown}): the journal that lets "
        "xzarrio.repair undo a killed write would live only in this process's memory, and "
        "die with the writer while the store lives on; pass instead a path, a URL with "
        "storage_options (e.g. 's3://bucket/out.zarr', storage_options={...}), or a zarr "
        "LocalStore, FsspecStore or ObjectStore of obstore's S3, GCS or Azure store (in any "
        "WrapperStore): their journals are kept beside them"
    )
