"""The interface of an undo journal, and what every kind of journal shares.

:class:`Journal` is what a write holds: it keeps a key before the key first
changes, keeps the old values of a shared chunk's part, plays the journal back
or discards it. Beside it: where journals live (:data:`JOURNAL_SUFFIX`), the
name of their header, the journals this process runs, and the form in which
old values are kept.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import warnings
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import zarr
from zarr.abc.store import Store

from ..liveness import HOST, writer_alive

__all__ = ["JOURNAL_SUFFIX", "Journal"]

JOURNAL_SUFFIX = ".xzarrio-journal"
_HEADER = "journal.json"

#: the journals this process has begun and not ended: any other journal that
#: names this process was left by an interrupted playback, and is dead
_ACTIVE: set[str] = set()


class Journal(ABC):
    """One write's undo journal (see :mod:`xzarrio.journal`)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self._seen: set[str] = set()
        self._seen_lock = threading.Lock()
        #: chunks shared with other writers: kept by region (keep_region), not whole
        self.shared_keys: frozenset[str] = frozenset()
        self._regions = 0
        #: what the end of the journal means, as a warning about its leftovers says
        self._ending = "committed"
        #: whether this process removed its header (:meth:`discard`): it is over
        self.removed = False

    @property
    def operation(self) -> str:
        return str(self.record["operation"])

    @property
    def alive(self) -> bool:
        """Whether the writer of this journal is still running."""
        if self.record.get("host") == HOST and self.record.get("pid") == os.getpid():
            return self.record.get("id") in _ACTIVE
        return writer_alive(self.record)

    async def before_change(self, key: str) -> None:
        """Keep what *key* holds now, the first time this write is about to change it."""
        with self._seen_lock:
            if key in self._seen or key in self.shared_keys:
                return
            self._seen.add(key)
        await self._keep(key)

    def keep_region(self, key: str, array: str, selection: tuple[slice, ...], old: Any) -> None:
        """Keep the *old* values of the part *selection* of chunk *key* of *array*.

        For a chunk shared with other writers (:attr:`shared_keys`): playing
        back writes these values back into it, under the chunk's lock.
        """
        entry = {"key": key, "array": array, "selection": [[s.start, s.stop] for s in selection]}
        name = f"regions/{self._regions:08d}"
        self._regions += 1
        self._put(f"{name}.npy", _values_bytes(np.asarray(old)))
        self._put(f"{name}.json", json.dumps(entry).encode())  # last: the entry is whole

    def keep_shared(self, key: str) -> None:  # noqa: B027 - only local journals can
        """Keep the whole shared chunk *key* as it is now, before this write changes it
        (called under the chunk's lock): see :meth:`note_shared_written`."""

    def note_shared_written(self) -> None:  # noqa: B027 - only local journals can
        """Note how each shared chunk is once this write's chunk writes have ended
        (under the chunks' locks). A rollback that finds a chunk still so (no other
        writer wrote it since) puts the chunk kept by :meth:`keep_shared` back whole,
        by a rename that needs no free space, instead of writing the old part into it."""

    def _put_back_shared(self, key: str) -> bool:
        """Put shared chunk *key* back whole if nobody wrote it since this write did;
        whether it was (see :meth:`note_shared_written`)."""
        return False

    def _restore_regions(self, store: Store, place: Any) -> None:
        """Write back the values :meth:`keep_region` kept, each under its chunk's lock
        (or put the chunk back whole, where that is exactly the same)."""
        from ..chunklocks import hold_chunks

        for entry_bytes, values_bytes in self._kept_regions():
            entry = json.loads(entry_bytes)
            with hold_chunks(place, [entry["key"]]):
                if self._put_back_shared(entry["key"]):
                    continue
                values = _values_of(values_bytes)
                where = tuple(slice(start, stop) for start, stop in entry["selection"])
                zarr.open_array(store, path=entry["array"], mode="r+")[where] = values

    def _left_behind(self, where: str, error: BaseException, hint: str) -> None:
        """Warn that *where*, left of a journal whose header is removed, could not go."""
        warnings.warn(
            f"{self.operation} is {self._ending}, but what is left of its journal at "
            f"{where!r} could not be removed ({error!r}); nothing reads a journal without "
            f"its header: {hint}",
            RuntimeWarning,
            stacklevel=4,
        )

    @abstractmethod
    def _put(self, name: str, data: bytes) -> None:
        """Keep *data* under *name* in the journal, durably."""

    @abstractmethod
    def _kept_regions(self) -> list[tuple[bytes, bytes]]:
        """Every whole region entry: its description and its values, as kept."""

    def _end(self) -> None:
        """This process is done with the journal: from now on it counts as dead."""
        _ACTIVE.discard(self.record.get("id", ""))

    def __getstate__(self) -> dict[str, Any]:
        # in another process nothing is seen yet; the journal's own files tell
        state = dict(self.__dict__)
        del state["_seen_lock"]
        state["_seen"] = set()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._seen_lock = threading.Lock()

    @abstractmethod
    async def _keep(self, key: str) -> None: ...

    @abstractmethod
    def playback(self, *, sweep_partial: bool = False) -> None:
        """Put the store back as it was before the write, then remove the journal."""

    def discard(self) -> None:
        """Remove the journal, header first: the write is committed.

        Raises only while the header is still there (the journal can still be
        played back); once it is gone, a failure to remove the rest is a
        ``RuntimeWarning`` that says the write is committed.
        """
        self.remove_header()
        self.sweep()

    @abstractmethod
    def remove_header(self) -> None:
        """The commit point: the header removed, for good. From then on nothing plays
        the journal back; raises only while the header is still there."""

    @abstractmethod
    def sweep(self) -> None:
        """Remove what is left of the journal once its header is removed: a writer may
        do it after letting its locks go, as nothing reads a journal without one. A
        failure is a ``RuntimeWarning`` that says the write is committed."""

    def refresh(self) -> None:  # noqa: B027 - only leased journals refresh
        """Move the writer's lease forward (object stores)."""


def _values_bytes(values: np.ndarray) -> bytes:
    """*values* as bytes: numpy's format, or for Python objects and variable-length
    strings (which it keeps only by pickling) a JSON list after a marker line."""
    if values.dtype.kind not in "OT":
        buffer = io.BytesIO()
        np.save(buffer, values, allow_pickle=False)
        return buffer.getvalue()
    flat = [
        {"bytes": base64.b64encode(v).decode()} if isinstance(v, bytes) else v
        for v in values.ravel().tolist()
    ]
    return _JSON_VALUES + json.dumps({"shape": values.shape, "values": flat}).encode()


def _values_of(data: bytes) -> np.ndarray:
    """The values :func:`_values_bytes` gave *data* for."""
    if not data.startswith(_JSON_VALUES):
        return np.asarray(np.load(io.BytesIO(data), allow_pickle=False))
    kept = json.loads(data[len(_JSON_VALUES) :])
    flat = [base64.b64decode(v["bytes"]) if isinstance(v, dict) else v for v in kept["values"]]
    values = np.empty(len(flat), dtype=object)
    values[:] = flat
    return values.reshape(kept["shape"])


#: the first bytes of values kept as JSON (numpy's own format starts with b"\x93NUMPY")
_JSON_VALUES = b"xzarrio-json-values\n"
