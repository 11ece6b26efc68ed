"""Locks on single stored chunks, for region writes that cover chunks in part.

A region write that covers a stored chunk only in part reads the chunk,
patches its part and writes the chunk whole. Two writers of the two parts of
one chunk must take turns, or the later one writes the chunk back without
the other's part. :func:`hold_chunks` takes a lock per chunk:

- on a local store, a byte-range lock (``lockf``) on one lock file beside
  the store, ``.NAME.xzarrio-chunks.lock``, at a byte chosen by the chunk's
  key; POSIX record locks belong to a process, so threads of one process
  also take a lock of this process's own per byte;
- on a store in memory, which lives in one process, a lock of this process.

Locks are always taken in the order of their bytes, so that two writers
that share several chunks never wait on each other in a circle.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from zarr.storage import MemoryStore

from .errors import RegionError
from .seams import memory_store_dict

__all__ = ["hold_chunks", "lock_file"]

#: byte-range locks lie at offsets below this (a 31-bit hash of the chunk's key)
_SPAN = 2**31

_REGISTRY_LOCK = threading.Lock()
#: this process's own lock per (place, byte), and its one open file per lock file
_THREAD_LOCKS: dict[tuple[Any, int], threading.Lock] = {}
_FILES: dict[Path, int] = {}


def lock_file(root: Path) -> Path:
    """The file whose bytes lock the chunks of the local store *root*: beside it.

    The path is resolved, so that writers reaching the store through a link
    share one file.
    """
    root = root.resolve()
    return root.with_name(f".{root.name}.xzarrio-chunks.lock")


def _forget_in_child() -> None:
    """A forked child holds none of its parent's locks, whatever the registries say."""
    _THREAD_LOCKS.clear()
    _FILES.clear()  # the child opens a descriptor of its own


os.register_at_fork(after_in_child=_forget_in_child)


def _byte(key: str) -> int:
    return zlib.crc32(key.encode()) % _SPAN


def _thread_lock(place: Any, byte: int) -> threading.Lock:
    with _REGISTRY_LOCK:
        return _THREAD_LOCKS.setdefault((place, byte), threading.Lock())


def _open_lock_file(path: Path) -> int:
    """This process's one descriptor of *path*: closing any would drop all its locks."""
    with _REGISTRY_LOCK:
        if path not in _FILES:
            _FILES[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        return _FILES[path]


@contextmanager
def _record_lock(fd: int, byte: int, path: Path) -> Iterator[None]:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, byte)
    except OSError as error:
        raise RegionError(
            f"cannot lock chunks in {str(path)!r} ({error.strerror}): this file system gives "
            "no working locks, so a region write that covers stored chunks in part is not "
            "safe here; align the region to the stored chunks, or pass "
            "allow_partial_chunks=True if no other process writes those chunks"
        ) from None
    try:
        yield
    finally:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, byte)


@contextmanager
def hold_chunks(place: Path | object, keys: Iterable[str]) -> Iterator[None]:
    """Hold the lock of every chunk *keys* of a store, until the block ends.

    *place* is a local store's root (a ``Path``) or a store object in memory.
    """
    local = isinstance(place, Path)
    # a store in memory by the dict it keeps its keys in: store objects may share one
    owner = (
        lock_file(place)
        if isinstance(place, Path)
        else id(memory_store_dict(place) if isinstance(place, MemoryStore) else place)
    )
    with ExitStack() as held:
        fd = _open_lock_file(owner) if isinstance(owner, Path) else -1
        for byte in sorted({_byte(key) for key in keys}):
            lock = _thread_lock(owner, byte)
            lock.acquire()
            held.callback(lock.release)
            if local:
                assert isinstance(owner, Path)
                held.enter_context(_record_lock(fd, byte, owner))
        yield
