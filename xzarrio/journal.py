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


@contextmanager
def store_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on a local store, across processes.

    ``flock`` on the store's directory itself: no lock file to leave behind.
    """
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
    for axis, (length, chunk) in enumerate(zip(array.shape, array.chunks, strict=True)):
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
    return sorted(p for p in folder.iterdir() if (p / "journal.json").is_file())


def _record(journal: Path) -> dict[str, Any]:
    return json.loads((journal / "journal.json").read_text())


def _playback(root: Path, journal: Path) -> None:
    """Put back what the journal saved, delete what it noted as created, drop it."""
    record = _record(journal)
    saved = journal / "files"
    for key in record["created"]:
        (root / key).unlink(missing_ok=True)
        # and the folders that only it needed (format 3 nests keys: c/40/0)
        folder = (root / key).parent
        while folder != root and folder.name != key.split("/", 1)[0]:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent
    for name in record["new_arrays"]:
        shutil.rmtree(root / name, ignore_errors=True)
    for key in record["saved"]:
        _copy(saved / key, root / key)
    shutil.rmtree(journal)
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
) -> Path:
    journal = journal_dir(root) / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    saved_dir = journal / "files"
    saved_dir.mkdir(parents=True)
    saved: list[str] = []
    created: list[str] = []
    # metadata of the root and of every array the write touches
    folders = [root, *(root / name for name in extents)]
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
        Hold the store's lock for the whole write (appends, which change shapes);
        otherwise writers of disjoint regions may run at once.
    """
    check_store(root, writing=True)
    lock = store_lock(root) if exclusive else _nothing()
    with lock:
        check_store(root, writing=True)
        group = zarr.open_group(str(root), mode="r")
        journal = _begin(root, group, operation, extents, new_arrays)
        try:
            yield
        except BaseException:
            _playback(root, journal)
            raise
        shutil.rmtree(journal)  # the commit
        _tidy(root)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


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
        if here and process_alive(int(record["pid"])):
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
            if record.get("host") == socket.gethostname() and process_alive(int(record["pid"])):
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
        if (journal / "journal.json").is_file():
            continue
        pid = journal.name.split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(journal, ignore_errors=True)
    _tidy(root)
