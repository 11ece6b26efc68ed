"""The journal of a local store, and the locks local writers hold.

A local journal is a folder beside the store: it keeps the old files as hard
links (chunks shared with other writers too, to be put back whole where
nobody wrote them since), and a marker for each key the write creates.
Writers to one store coordinate by ``flock``: :func:`store_lock` on the
store, :func:`metadata_lock` on its parent folder.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import zarr

from ..seams import PARTIAL_SUFFIX
from .interface import _HEADER, JOURNAL_SUFFIX, Journal

__all__ = ["LocalJournal", "journal_dir", "metadata_lock", "store_lock"]

#: the ending of a journal folder that earlier versions renamed to remove it
_DISCARDED = ".discarded"


def journal_dir(root: Path) -> Path:
    """Where the journals of the store *root* live: beside it, so zarr never lists them."""
    return root.with_name(f".{root.name}{JOURNAL_SUFFIX}")


def _temporary(path: Path) -> Path:
    """A fresh name beside *path* for a file made whole there, then renamed to it."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


#: how much longer than the name of the file it becomes a temporary file's name is
_TEMPORARY_ROOM = len(_temporary(Path("x")).name) - len("x")


def _write_durably(path: Path, data: str | bytes) -> None:
    tmp = _temporary(path)
    with open(tmp, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


#: how often a journal's folder is made again where its parent went meanwhile
_FOLDER_TRIES = 5


def _make_folder(folder: Path) -> None:
    """Make the journal's *folder*, and the folder of journals it lies in.

    Region writers begin and end side by side, and the one that ends removes
    the folder of journals once it is empty: between this writer's making of
    that folder and of its own journal in it. It is then made again.
    """
    for _ in range(_FOLDER_TRIES - 1):
        try:
            folder.mkdir(parents=True)
            return
        except FileNotFoundError:
            continue
    folder.mkdir(parents=True)


class LocalJournal(Journal):
    """A journal of a local store: hard links of the old files, markers for new ones."""

    def __init__(self, root: Path, folder: Path, record: dict[str, Any]) -> None:
        super().__init__(record)
        self.root = root
        self.folder = folder
        #: each shared chunk as this write left it (None: absent), and those absent before
        self._as_left: dict[str, _Identity | None] = {}
        self._absent_before: set[str] = set()

    @classmethod
    def begin(cls, root: Path, name: str, record: dict[str, Any]) -> LocalJournal:
        """A new journal *name* of the store *root*, its header (*record*) durable."""
        folder = journal_dir(root) / name
        _make_folder(folder)
        record = {**record, _FLAT: True}
        _write_durably(folder / _HEADER, json.dumps(record))
        return cls(root, folder, record)

    def _entry(self, kind: str, key: str) -> Path:
        """Where the journal keeps *key* (``saved``, ``created`` or ``shared``).

        One file a key, its ``/`` and ``%`` escaped: no folder to make for it, or
        to remove at the end. A key too long for one file name here (and every
        key in a journal of an earlier version, whose header has no
        ``flat_entries``) is kept in folders as the store has it. Each entry
        ends in ``.key``, so that zarr's key ``a/c/0`` and a later ``a/c/0/0``
        (a group replaced by one of more dimensions) are a file and a folder of
        different names.
        """
        flat = _escaped(key) + _ENTRY
        if self.record.get(_FLAT) and len(flat.encode()) <= self._longest_name:
            return self.folder / kind / flat
        return self.folder / kind / f"{key}{_ENTRY}"

    @functools.cached_property
    def _longest_name(self) -> int:
        """The longest entry name the journal's file system takes, room left for the
        temporary name of a copy (``._keep`` where there are no hard links)."""
        try:
            longest = os.pathconf(self.folder, "PC_NAME_MAX")
        except (OSError, ValueError):
            longest = _NAME_MAX
        return longest - _TEMPORARY_ROOM

    def _key_of(self, entry: Path, kind: str) -> Path:
        relative = str(entry.relative_to(self.folder / kind)).removesuffix(_ENTRY)
        flat = self.record.get(_FLAT) and "/" not in relative
        return self.root / (_unescaped(relative) if flat else relative)

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
            tmp = _temporary(saved)
            await asyncio.to_thread(shutil.copyfile, self.root / key, tmp)
            os.replace(tmp, saved)

    def keep_shared(self, key: str) -> None:
        kept = self._entry("shared", key)
        kept.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.root / key, kept)
        except FileNotFoundError:
            self._absent_before.add(key)
        except OSError:  # no hard links here: a rollback writes the old part back
            pass

    def note_shared_written(self) -> None:
        self._as_left = {key: _identity(self.root / key) for key in self.shared_keys}

    def _put_back_shared(self, key: str) -> bool:
        if key not in self._as_left or _identity(self.root / key) != self._as_left[key]:
            return False  # another writer wrote its part since (or a repair runs)
        kept = self._entry("shared", key)
        if kept.is_file():
            (self.root / key).parent.mkdir(parents=True, exist_ok=True)  # if it went empty
            os.replace(kept, self.root / key)
            return True
        if key in self._absent_before:
            (self.root / key).unlink(missing_ok=True)
            return True
        return False

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
        self._ending = "rolled back"
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
            for partial in self.root.rglob(f"*{PARTIAL_SUFFIX}"):
                partial.unlink(missing_ok=True)
        self.discard()

    def remove_header(self) -> None:
        self._end()
        # the commit point, in one step that needs no free space (a rename may): a
        # journal without its header is never played back, and repair sweeps it
        (self.folder / _HEADER).unlink(missing_ok=True)
        self.removed = True
        _sync_folder(self.folder)

    def sweep(self) -> None:
        failures: list[BaseException] = []
        shutil.rmtree(self.folder, onerror=lambda *args: failures.append(args[2][1]))
        # what a repair of the store swept meanwhile is gone all the same
        failures = [f for f in failures if not isinstance(f, FileNotFoundError)]
        if failures:
            hint = f"xzarrio.repair({str(self.root)!r}) sweeps it"
            self._left_behind(str(self.folder), failures[0], hint)
        _remove_if_empty(self.folder.parent)


#: what identifies a file as one version of a key: a file replaced by another differs
_Identity = tuple[int, int, int, int, int]


def _identity(path: Path) -> _Identity | None:
    """The identity of the file at *path* (None where there is none)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _sync_folder(folder: Path) -> None:
    """Make the entries of *folder* durable (a commit point): best effort, as the
    change is made and only a lost machine could undo it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: the ending of every entry of a local journal (see LocalJournal._entry)
_ENTRY = ".key"
#: the header's mark of a journal that keeps a key as one file (see LocalJournal._entry)
_FLAT = "flat_entries"
#: the longest file name where the file system does not say: 255 bytes on most
_NAME_MAX = 255


def _escaped(key: str) -> str:
    """*key* as one file name: ``%`` as ``%25``, ``/`` as ``%2F``."""
    return key.replace("%", "%25").replace("/", "%2F")


def _unescaped(name: str) -> str:
    """The key that :func:`_escaped` made *name* of."""
    return name.replace("%2F", "/").replace("%25", "%")


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


def journal_folders(root: Path) -> list[Path]:
    """The folders in the folder of journals of the store *root*, in order; none where
    it is not there, or is removed meanwhile (a writer that ends removes it once empty)."""
    try:
        return sorted(journal_dir(root).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _local_journals(root: Path) -> list[LocalJournal]:
    found = []
    for entry in journal_folders(root):
        if entry.name.endswith(_DISCARDED):
            continue  # an older writer's journal, committed: swept by repair
        try:
            record = json.loads((entry / _HEADER).read_text())
        except (OSError, ValueError):
            continue  # no header yet, or being discarded: nothing was changed under it
        found.append(LocalJournal(root, entry, record))
    return found


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
