"""Undo journals: every key a write changes is saved before it changes.

A write that changes an existing store in place (an append, a region write, a
replacement copied into an object store) opens a journal beside the store,
``.NAME.xzarrio-journal/<id>/``, and writes its header first. From then on,
before any key of the store is written or deleted for the first time, the
journal keeps what it was: the old bytes under ``saved/<key>``, or, for a key
that did not exist, a marker under ``created/<key>``. Playing the journal back
puts every saved key back and deletes every created one, so the store is
exactly as before, whatever part of the write had happened. On success the
journal is removed, header first: that removal is the commit.

A chunk that a region write covers only in part is shared with whoever
writes its other part: the journal keeps the old values of this write's part
of it (``regions/``), not the chunk, and playing back writes them back into
the chunk under its lock (:mod:`xzarrio.chunklocks`), so that a failed writer
undoes its own part and nothing else.

On a local disk the old bytes are kept as a hard link (zarr writes a key as a
new file renamed into place, so the link keeps the old file) and put back by
a rename: a rollback needs no free space. On object stores they are copied.

A writer killed outright leaves its journal behind. :func:`check_store` sees
it, ``open_zarr`` then refuses the store, and :func:`repair` plays it back.
Opening a store never changes it.

One module per concern:

- :mod:`~xzarrio.journal.interface`: the :class:`Journal` interface and what
  every kind of journal shares;
- :mod:`~xzarrio.journal.local`: the journal of a local store, and the
  ``flock`` locks of local writers;
- :mod:`~xzarrio.journal.objectstore`: the journal of an object store or a
  store object;
- :mod:`~xzarrio.journal.factory`: :func:`begin_journal` and :func:`journals`,
  the one place that picks the kind of journal;
- :mod:`~xzarrio.journal.repair`: :func:`check_store` and :func:`repair`;
- :mod:`~xzarrio.journal.generations`: each array's generation, which every
  write changes, and whether a write is under way (:class:`WriteWatch`).
"""

from __future__ import annotations

from .factory import begin_journal, check_journal_lasts, journals
from .generations import (
    GENERATION_KEY,
    METADATA_NAMES,
    Generation,
    WriteWatch,
    advance_generations,
    group_generations,
    read_generations,
)  # fmt: skip
from .interface import JOURNAL_SUFFIX, Journal
from .local import LocalJournal, journal_dir, metadata_lock, store_lock
from .objectstore import StoreJournal, gather_bounded
from .repair import check_store, repair

__all__ = [
    "GENERATION_KEY",
    "JOURNAL_SUFFIX",
    "METADATA_NAMES",
    "Generation",
    "Journal",
    "LocalJournal",
    "StoreJournal",
    "WriteWatch",
    "advance_generations",
    "begin_journal",
    "check_journal_lasts",
    "check_store",
    "gather_bounded",
    "group_generations",
    "journal_dir",
    "journals",
    "metadata_lock",
    "read_generations",
    "repair",
    "store_lock",
]
