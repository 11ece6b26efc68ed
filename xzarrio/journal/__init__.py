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
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import io
import json
import os
import shutil
import threading
import time
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import zarr
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import FsspecStore, MemoryStore

from ..errors import InterruptedWriteError, StoreNotFoundError, WriteInProgressError
from ..liveness import HOST, LEASE_SECONDS, writer_alive, writer_record
from ..stores import Location, copy_key, list_names, locate

__all__ = [
    "JOURNAL_SUFFIX",
    "Journal",
    "begin_journal",
    "check_store",
    "gather_bounded",
    "metadata_lock",
    "repair",
    "store_lock",
]

JOURNAL_SUFFIX = ".xzarrio-journal"
_HEADER = "journal.json"
_DISCARDED = ".discarded"

#: journals of in-memory and other store objects, which have no place beside
#: them: by the store's id, then the journal's name, for as long as this process lives
_MEMORY_JOURNALS: dict[int, dict[str, MemoryStore]] = {}


#: the journals this process has begun and not ended: any other journal that
#: names this process was left by an interrupted playback, and is dead
_ACTIVE: set[str] = set()


class Journal(ABC):
    """One write's undo journal (see the module's docstring)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self._seen: set[str] = set()
        self._seen_lock = threading.Lock()
        #: chunks shared with other writers: kept by region (keep_region), not whole
        self.shared_keys: frozenset[str] = frozenset()
        self._regions = 0

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

    def _restore_regions(self, store: Store, place: Any) -> None:
        """Write back the values :meth:`keep_region` kept, each under its chunk's lock."""
        from ..chunklocks import hold_chunks

        for entry_bytes, values_bytes in self._kept_regions():
            entry = json.loads(entry_bytes)
            values = _values_of(values_bytes)
            where = tuple(slice(start, stop) for start, stop in entry["selection"])
            with hold_chunks(place, [entry["key"]]):
                zarr.open_array(store, path=entry["array"], mode="r+")[where] = values

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

    @abstractmethod
    def discard(self) -> None:
        """Remove the journal, header first: the write is committed."""

    def refresh(self) -> None:  # noqa: B027 - only leased journals refresh
        """Move the writer's lease forward (object stores)."""


# ------------------------------------------------------------------ local files


def journal_dir(root: Path) -> Path:
    """Where the journals of the store *root* live: beside it, so zarr never lists them."""
    return root.with_name(f".{root.name}{JOURNAL_SUFFIX}")


def _write_durably(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


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


class LocalJournal(Journal):
    """A journal of a local store: hard links of the old files, markers for new ones."""

    def __init__(self, root: Path, folder: Path, record: dict[str, Any]) -> None:
        super().__init__(record)
        self.root = root
        self.folder = folder

    def _entry(self, kind: str, key: str) -> Path:
        """Where the journal keeps *key* (``saved`` or ``created``).

        Each entry ends in ``.key``: zarr's key ``a/c/0`` and a later ``a/c/0/0``
        (a group replaced by one of more dimensions) are then a file and a
        folder of different names.
        """
        return self.folder / kind / f"{key}{_ENTRY}"

    def _key_of(self, entry: Path, kind: str) -> Path:
        relative = str(entry.relative_to(self.folder / kind))
        return self.root / relative.removesuffix(_ENTRY)

    async def _keep(self, key: str) -> None:
        saved, created = self._entry("saved", key), self._entry("created", key)
        if saved.exists() or created.exists():
            return  # kept already, by another process of this write
        saved.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.root / key, saved)
        except FileNotFoundError:
            created.parent.mkdir(parents=True, exist_ok=True)
            created.touch()
        except FileExistsError:
            pass
        except OSError:  # no hard links here (another file system): a copy
            tmp = saved.with_name(f".{saved.name}.{uuid.uuid4().hex[:8]}.tmp")
            await asyncio.to_thread(shutil.copyfile, self.root / key, tmp)
            os.replace(tmp, saved)

    def _put(self, name: str, data: bytes) -> None:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_durably(path, data)

    def _kept_regions(self) -> list[tuple[bytes, bytes]]:
        folder = self.folder / "regions"
        entries = sorted(folder.glob("*.json")) if folder.is_dir() else []
        return [(e.read_bytes(), e.with_suffix(".npy").read_bytes()) for e in entries]

    def playback(self, *, sweep_partial: bool = False) -> None:
        self._end()  # from now on its writer has given up
        for marker in _files(self.folder / "created"):
            key = self._key_of(marker, "created")
            key.unlink(missing_ok=True)
            _prune(self.root, key.parent)
            marker.unlink()
        for saved in _files(self.folder / "saved"):
            key = self._key_of(saved, "saved")
            key.parent.mkdir(parents=True, exist_ok=True)  # a deleted group took its folder
            os.replace(saved, key)
        self._restore_regions(zarr.storage.LocalStore(self.root), self.root)
        if sweep_partial:
            # zarr writes a key as KEY.<hex>.partial and renames it: a killed writer leaves them
            for partial in self.root.rglob("*.partial"):
                partial.unlink(missing_ok=True)
        self.discard()

    def discard(self) -> None:
        self._end()
        gone = self.folder.with_name(self.folder.name + _DISCARDED)
        os.rename(self.folder, gone)  # one atomic step: the journal is gone at once
        shutil.rmtree(gone, ignore_errors=True)
        _remove_if_empty(self.folder.parent)


#: the ending of every entry of a local journal (see LocalJournal._entry)
_ENTRY = ".key"


def _files(folder: Path) -> list[Path]:
    """The entries of a journal's folder (not a copy a killed writer left half made)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob(f"*{_ENTRY}") if p.is_file())


def _prune(root: Path, folder: Path) -> None:
    """Remove *folder* and its parents up to *root* as far as they are empty."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _local_journals(root: Path) -> list[LocalJournal]:
    folder = journal_dir(root)
    found = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            record = json.loads((entry / _HEADER).read_text())
        except (OSError, ValueError):
            continue  # no header yet, or being discarded: nothing was changed under it
        found.append(LocalJournal(root, entry, record))
    return found


# ------------------------------------------------------------------ stores


class StoreJournal(Journal):
    """A journal of a store object or an object store: copies of the old keys."""

    def __init__(self, target: Store, keys: Store, record: dict[str, Any]) -> None:
        super().__init__(record)
        self.target = target
        self.keys = keys

    async def _keep(self, key: str) -> None:
        if self.record.get("fresh"):
            return  # the store was empty: playing back deletes all of it
        if not await copy_key(self.target, key, self.keys, f"saved/{key}"):
            await self.keys.set(f"created/{key}", _EMPTY)

    def _put(self, name: str, data: bytes) -> None:
        sync(self.keys.set(name, default_buffer_prototype().buffer.from_bytes(data)))

    def _kept_regions(self) -> list[tuple[bytes, bytes]]:
        names = sorted(sync(_listed(self.keys, "regions/")))
        kept = []
        for name in (n for n in names if n.endswith(".json")):
            pair = (name, name.removesuffix(".json") + ".npy")
            got = [sync(self.keys.get(n, prototype=default_buffer_prototype())) for n in pair]
            if got[0] is not None and got[1] is not None:
                kept.append((got[0].to_bytes(), got[1].to_bytes()))
        return kept

    def playback(self, *, sweep_partial: bool = False) -> None:
        self._end()  # from now on its writer has given up
        sync(self._playback())
        self._restore_regions(self.target, self.target)
        self.discard()

    async def _playback(self) -> None:
        if self.record.get("fresh"):
            await self.target.delete_dir("")
            return
        created = [k async for k in self.keys.list_prefix("created/")]
        saved = [k async for k in self.keys.list_prefix("saved/")]
        await gather_bounded(self.target.delete(k.removeprefix("created/")) for k in created)
        await gather_bounded(self._put_back(k) for k in saved)

    async def _put_back(self, key: str) -> None:
        await copy_key(self.keys, key, self.target, key.removeprefix("saved/"))

    def discard(self) -> None:
        self._end()
        sync(self.keys.delete(_HEADER))
        sync(self.keys.delete_dir(""))

    def refresh(self) -> None:
        if "expires" in self.record:
            self.record["expires"] = time.time() + LEASE_SECONDS
            sync(self.keys.set(_HEADER, _encode(self.record)))


def _encode(record: dict[str, Any]) -> Any:
    return default_buffer_prototype().buffer.from_bytes(json.dumps(record).encode())


_EMPTY = default_buffer_prototype().buffer.from_bytes(b"")


async def _listed(store: Store, prefix: str) -> list[str]:
    return [key async for key in store.list_prefix(prefix)]


async def gather_bounded(coroutines: Any, limit: int = 64) -> None:
    """Run *coroutines*, at most *limit* at once; every one has ended when this returns."""
    gate = asyncio.Semaphore(limit)

    async def bounded(coroutine: Any) -> None:
        async with gate:
            await coroutine

    results = await asyncio.gather(*(bounded(c) for c in coroutines), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _journal_names(location: Location) -> list[str]:
    """The names of the journals of a non-local store (a sibling prefix, or memory)."""
    if location.kind == "fsspec":
        root = location.sibling(JOURNAL_SUFFIX).zarr_store()
        return sorted(sync(list_names(root)))
    return sorted(_MEMORY_JOURNALS.get(id(location.zarr_store()), {}))


def _journal_keys(location: Location, name: str) -> Store:
    """The store of journal *name*'s keys."""
    if location.kind == "fsspec":
        root = cast(FsspecStore, location.sibling(JOURNAL_SUFFIX).zarr_store())
        return FsspecStore(root.fs, path=f"{root.path}/{name}")
    journals_of_store = _MEMORY_JOURNALS.setdefault(id(location.zarr_store()), {})
    for ended in [n for n, keys in journals_of_store.items() if not keys._store_dict]:
        del journals_of_store[ended]  # discarded: nothing left of them
    return journals_of_store.setdefault(name, MemoryStore())


def _store_journals(location: Location) -> list[StoreJournal]:
    found = []
    for name in _journal_names(location):
        keys = _journal_keys(location, name)
        header = sync(keys.get(_HEADER, prototype=default_buffer_prototype()))
        if header is not None:
            record = json.loads(header.to_bytes())
            found.append(StoreJournal(location.zarr_store(), keys, record))
    return found


# ------------------------------------------------------------------ one interface


def begin_journal(location: Location, operation: str, *, fresh: bool = False) -> Journal:
    """Open a new journal for a write to *location*; its header is durable on return.

    A *fresh* journal is for a store that holds nothing yet (not local): it
    keeps nothing per key, and playing it back deletes the whole store.
    """
    record = writer_record(lease=location.kind == "fsspec")
    record["operation"] = operation
    if fresh:
        record["fresh"] = True
    record["started"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    name = record["id"] = f"{record['pid']}-{uuid.uuid4().hex[:12]}"
    _ACTIVE.add(name)
    if location.kind == "local":
        assert location.path is not None
        folder = journal_dir(location.path) / name
        folder.mkdir(parents=True)
        _write_durably(folder / _HEADER, json.dumps(record))
        return LocalJournal(location.path, folder, record)
    keys = _journal_keys(location, name)
    sync(keys.set(_HEADER, _encode(record)))
    return StoreJournal(location.zarr_store(), keys, record)


def journals(location: Location) -> list[Journal]:
    """The journals of *location* that have a header, oldest first."""
    if location.kind == "icechunk":
        return []
    found: list[Journal] = []
    if location.kind == "local":
        assert location.path is not None
        found.extend(_local_journals(location.path))
    else:
        found.extend(_store_journals(location))
    return sorted(found, key=lambda j: str(j.record.get("started", "")))


@contextmanager
def store_lock(root: Path, *, shared: bool = False) -> Iterator[None]:
    """A lock on a local store, across processes: exclusive, or shared.

    ``flock`` on the store's directory itself: no lock file to leave behind.
    Appends hold it exclusively for their whole write; region writes hold it
    shared, so that they run side by side but never beside an append.
    """
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def metadata_lock(root: Path) -> Iterator[None]:
    """An exclusive lock for updating a store's root attributes and consolidated metadata.

    Held on the store's parent folder (never removed, unlike a journal folder),
    so that a region writer, which holds the store's lock shared, can take it
    without deadlocking another; it is held for milliseconds.
    """
    fd = os.open(root.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _describe(journal: Journal, location: Location) -> str:
    record = journal.record
    who = f"process {record['pid']} on {record['host']}"
    return f"a {journal.operation} to {location.shown} started at {record['started']} by {who}"


def check_store(location: Location, *, writing: bool = False) -> None:
    """Refuse a store that an interrupted write left half-done; say how to repair it.

    A write still running (its process alive, or its lease current) is not an
    error: a reader gets a ``RuntimeWarning``, a writer goes ahead. Nothing is
    changed on the store.
    """
    for journal in journals(location):
        if journal.alive:
            if not writing:
                warnings.warn(
                    f"{_describe(journal, location)} is in progress; its data may be incomplete",
                    RuntimeWarning,
                    stacklevel=4,
                )
            continue
        raise InterruptedWriteError(
            f"{_describe(journal, location)} was interrupted and left the store half-written; "
            f"roll it back to the state before it with xzarrio.repair({location.shown}) "
            f"(or: xzarrio repair {location.name})"
        )


def repair(
    store: Any,
    *,
    storage_options: dict[str, Any] | None = None,
    group: str | None = None,
    force: bool = False,
) -> list[str]:
    """Roll back every interrupted write of a store; return what was rolled back.

    Works on local paths, URLs (with *storage_options*) and store objects.
    Staging left by killed writers is removed too. A write whose writer is
    still alive is refused unless *force* (for a writer known to be gone whose
    lease has not run out yet).

    Examples
    --------
    >>> import numpy as np, xarray as xr, xzarrio
    >>> path = getfixture("tmp_path") / "s.zarr"
    >>> _ = xr.Dataset({"v": ("t", np.arange(3.0))}).zio.to_zarr(path)
    >>> xzarrio.repair(path)
    []
    """
    from ..atomic import sweep_staging

    del group  # a journal covers its whole store, whichever group it wrote
    location = locate(store, storage_options)
    if location.kind == "local":
        assert location.path is not None
        sweep_staging(location.path)  # first: it may put back a store a killed swap left aside
        if not location.path.is_dir():
            raise StoreNotFoundError(f"no zarr store at {location.shown}: the path does not exist")
        with store_lock(location.path):
            return _play_back_dead(location, force)
    sweep_staging(location)
    return _play_back_dead(location, force)


def _play_back_dead(location: Location, force: bool) -> list[str]:
    done = []
    for journal in reversed(journals(location)):  # undo the latest write first
        if journal.alive and not force:
            raise WriteInProgressError(
                f"{_describe(journal, location)} is still running (its writer is alive); "
                "wait for it, or pass force=True if you know that writer is gone"
            )
        journal.playback(sweep_partial=True)
        done.append(f"{journal.operation} started at {journal.record['started']}")
    _sweep_headless(location)
    return done


def _sweep_headless(location: Location) -> None:
    """Remove journal folders left without a header (killed before it was written)."""
    if location.kind != "local":
        return
    assert location.path is not None
    folder = journal_dir(location.path)
    for entry in folder.iterdir() if folder.is_dir() else []:
        if entry.name.endswith(_DISCARDED) or not (entry / _HEADER).is_file():
            shutil.rmtree(entry, ignore_errors=True)
    _remove_if_empty(folder)
