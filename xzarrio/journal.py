"""Crash-consistent in-place writes: an undo journal for appends and region writes.

A write that changes an existing store in place (``mode="a"`` or ``"r+"``)
first copies, into ``.NAME.xzarrio-journal/<id>/`` beside the store, every
file it may change: the metadata documents and the stored chunks it will touch, and
notes the chunks it will create. Only then does it write. If it fails or is
interrupted, the journal is played back: touched chunks are restored, created
ones deleted, metadata put back, so the store is exactly as before. On
success the journal is removed; that removal is the commit.

A writer killed outright (SIGKILL, power loss) leaves its journal behind.
:func:`check_store` sees it, and ``open_zarr`` then refuses the store with an
error that says to run :func:`repair`, which plays the journal back.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import shutil
import socket
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zarr

from .atomic import process_alive
from .errors import InterruptedWriteError, StoreNotFoundError

__all__ = ["JOURNAL_SUFFIX", "Extent", "check_store", "guarded", "repair", "store_lock"]

JOURNAL_SUFFIX = ".xzarrio-journal"


def journal_dir(root: Path) -> Path:
    """Where the journals of the store *root* live: beside it, so zarr never lists them."""
    return root.with_name(f".{root.name}{JOURNAL_SUFFIX}")


_METADATA = ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata")


@dataclass(frozen=True)
class Extent:
    """Where a write lands in one array: per axis, the index range written.

    ``None`` for an axis means the whole axis; for an array the write creates,
    use :func:`guarded`'s ``new_arrays`` instead.
    """

    ranges: tuple[tuple[int, int] | None, ...]


#: journals this process is running right now (a journal of this pid that is
#: not among them was left by an interrupted playback, and is dead)
_ACTIVE: set[str] = set()


def _started(pid: int) -> float | None:
    """When process *pid* started, or None if there is none: pid and start time name it."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _writer_alive(journal: Path, record: Mapping[str, Any]) -> bool:
    if record.get("host") != socket.gethostname():
        return False  # cannot be checked from here; treated as interrupted
    pid = int(record["pid"])
    if pid == os.getpid():
        return journal.name in _ACTIVE
    started = _started(pid)
    # a pid reused by another process has another start time
    return started is not None and abs(started - float(record.get("pid_started", -1))) < 1.0


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


def _copy(src: Path, dst: Path) -> None:
    """Copy *src* to *dst* via a temporary file and a rename, so *dst* is never half-written."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp")
    shutil.copyfile(src, tmp)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, dst)


def _chunk_keys(array: zarr.Array, extent: Extent) -> Iterator[str]:
    ranges = []
    stored = array.shards or array.chunks  # what is a file: the shard, where there are shards
    for axis, (length, chunk) in enumerate(zip(array.shape, stored, strict=True)):
        span = extent.ranges[axis] if axis < len(extent.ranges) else None
        start, stop = span if span is not None else (0, length)
        if stop <= start:
            return
        ranges.append(range(start // chunk, -(-stop // chunk)))
    for coords in itertools.product(*ranges):
        yield array.metadata.encode_chunk_key(tuple(coords))


def _journals(root: Path) -> list[Path]:
    folder = journal_dir(root)
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.iterdir()
        if not p.name.endswith(_DISCARDED) and (p / "journal.json").is_file()
    ]
    # newest first: undo the latest write before the ones it came after
    return sorted(found, key=lambda p: (p / "journal.json").stat().st_mtime, reverse=True)


_DISCARDED = ".discarded"


def _discard(journal: Path) -> None:
    """Remove a journal: one rename (atomic: it is gone at once), then the files."""
    gone = journal.with_name(journal.name + _DISCARDED)
    os.rename(journal, gone)
    shutil.rmtree(gone, ignore_errors=True)


def _record(journal: Path) -> dict[str, Any]:
    return json.loads((journal / "journal.json").read_text())


def _playback(root: Path, journal: Path) -> None:
    """Put back what the journal saved, delete what it noted as created, drop it."""
    record = _record(journal)
    saved = journal / "files"
    for key in record["created"]:
        (root / key).unlink(missing_ok=True)
        # and the folders that only it needed (format 3 nests keys: c/40/0),
        # up to the array's own folder, the one that holds its metadata
        folder = (root / key).parent
        while folder != root and not any((folder / m).exists() for m in _METADATA):
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent
    for name in record["new_arrays"]:
        shutil.rmtree(root / name, ignore_errors=True)
    for key in record["saved"]:
        _copy(saved / key, root / key)
    _discard(journal)
    _tidy(root)


def _tidy(root: Path) -> None:
    try:
        (journal_dir(root)).rmdir()
    except OSError:
        pass


def _begin(
    root: Path,
    group: zarr.Group,
    operation: str,
    extents: Mapping[str, Extent],
    new_arrays: list[str],
    *,
    save_metadata: bool,
) -> Path:
    journal = journal_dir(root) / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    saved_dir = journal / "files"
    saved_dir.mkdir(parents=True)
    saved: list[str] = []
    created: list[str] = []
    # metadata of the root and of every array the write touches (a region write
    # changes none: its attributes are updated after the data, under a lock)
    folders = [root, *(root / name for name in extents)] if save_metadata else []
    for folder in folders:
        for meta in _METADATA:
            if (folder / meta).is_file():
                key = str((folder / meta).relative_to(root))
                _copy(folder / meta, saved_dir / key)
                saved.append(key)
    for name, extent in extents.items():
        array = group[name]
        assert isinstance(array, zarr.Array)
        for chunk_key in _chunk_keys(array, extent):
            key = f"{name}/{chunk_key}"
            if (root / key).is_file():
                _copy(root / key, saved_dir / key)
                saved.append(key)
            else:
                created.append(key)
    record = {
        "operation": operation,
        "pid": os.getpid(),
        "pid_started": _started(os.getpid()),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "saved": saved,
        "created": created,
        "new_arrays": new_arrays,
    }
    tmp = journal / "journal.json.tmp"
    tmp.write_text(json.dumps(record))
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, journal / "journal.json")  # from here on, the write may begin
    return journal


@contextmanager
def guarded(
    root: Path,
    operation: str,
    extents: Mapping[str, Extent],
    new_arrays: list[str],
    *,
    exclusive: bool,
) -> Iterator[None]:
    """Run an in-place write under an undo journal; roll it back if it fails.

    Parameters
    ----------
    root : Path
        The local store.
    operation : str
        What the write is (for messages).
    extents : mapping
        Existing array name → the part of it the write touches.
    new_arrays : list of str
        Arrays the write creates.
    exclusive : bool
        Appends (which change shapes and metadata) hold the store's lock
        exclusively and journal the metadata too; region writes hold it shared,
        so writers of disjoint regions run at once, and journal chunks only.
    """
    with store_lock(root, shared=not exclusive):
        check_store(root, writing=True)  # under the lock: no writer can start meanwhile
        group = zarr.open_group(str(root), mode="r")
        journal = _begin(root, group, operation, extents, new_arrays, save_metadata=exclusive)
        _ACTIVE.add(journal.name)
        try:
            yield
        except BaseException:
            _playback(root, journal)
            raise
        finally:
            _ACTIVE.discard(journal.name)
        _discard(journal)  # the commit
        _tidy(root)


def check_store(root: Path, *, writing: bool = False) -> None:
    """Refuse a store that an interrupted write left half-done; say how to repair it.

    A write still running (its process alive on this host) is not an error: a
    reader gets a ``RuntimeWarning``; a writer is refused only for appends,
    which hold the store's lock.
    """
    sweep(root)
    for journal in _journals(root):
        try:
            record = _record(journal)
        except (OSError, ValueError):
            continue  # being written right now
        here = record.get("host") == socket.gethostname()
        if _writer_alive(journal, record):
            if not writing:
                warnings.warn(
                    f"a {record['operation']} to {str(root)!r} is in progress (process "
                    f"{record['pid']}, since {record['started']}); its data may be incomplete",
                    RuntimeWarning,
                    stacklevel=4,
                )
            continue
        who = f"process {record['pid']}" + ("" if here else f" on {record['host']}")
        raise InterruptedWriteError(
            f"a {record['operation']} to {str(root)!r} started at {record['started']} by {who} "
            "was interrupted and left the store half-written; roll it back to the state before "
            f"it with xzarrio.repair({str(root)!r}) (or: xzarrio repair {root})"
        )


def repair(store: str | os.PathLike[str]) -> list[str]:
    """Roll back every interrupted write of a local store; return what was rolled back.

    A write whose process is still running on this machine is left alone.

    Examples
    --------
    >>> import numpy as np, xarray as xr, xzarrio
    >>> path = getfixture("tmp_path") / "s.zarr"
    >>> _ = xr.Dataset({"v": ("t", np.arange(3.0))}).zio.to_zarr(path)
    >>> xzarrio.repair(path)
    []
    """
    root = Path(store).expanduser().absolute()
    if not root.is_dir():
        raise StoreNotFoundError(f"no zarr store at {str(root)!r}: the path does not exist")
    done = []
    with store_lock(root):
        for journal in _journals(root):
            record = _record(journal)
            if _writer_alive(journal, record):
                continue
            _playback(root, journal)
            done.append(f"{record['operation']} started at {record['started']}")
    return done


def sweep(root: Path) -> None:
    """Remove journal folders left unfinished before their record was written."""
    folder = journal_dir(root)
    if not folder.is_dir():
        return
    for journal in folder.iterdir():
        if journal.name.endswith(_DISCARDED):
            shutil.rmtree(journal, ignore_errors=True)
            continue
        if (journal / "journal.json").is_file():
            continue
        pid = journal.name.split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(journal, ignore_errors=True)
    _tidy(root)
