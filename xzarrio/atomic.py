"""Atomic replacement of a local store.

A new store is written into a hidden staging directory beside the target and
swapped in only once complete. On Linux the swap is one ``renameat2`` call
(``RENAME_EXCHANGE``, or ``RENAME_NOREPLACE`` for a new store), so a reader
sees the old store or the new one and never a mix; elsewhere it is two
renames. The staging directory is removed whatever happens, short of the
process being killed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import posixpath
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import InterruptedWriteError, StoreExistsError, StoreNotWritableError
from .liveness import HOST, process_started, writer_alive
from .seams import sync
from .stores import Location, ObjectPrefix, delete_under, is_zarr_dir, list_names

__all__ = [
    "STAGING_MARK",
    "open_staging",
    "remove_staging",
    "staging_name",
    "staging_suffix",
    "swap_in",
    "sweep_staging",
]

#: part of the name of every staging directory, so that it can be recognised
STAGING_MARK = ".xzarrio-staging-"

# staging names carry the host: a pid means something only on its own machine
_HOST = HOST.replace("-", "_")
_STARTED = process_started(os.getpid())
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def _load_renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()


def _rename2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2``; False where the system or file system lacks it."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


def _swap_in(staging: Path, target: Path, *, replace: bool) -> None:
    """Put *staging* at *target*; afterwards *staging* holds the old store, if any."""
    if not is_zarr_dir(staging):
        raise InterruptedWriteError(
            f"the new store for {str(target)!r} is no longer complete where it was staged "
            f"({str(staging)!r}); it was not swapped in and the old store is untouched"
        )
    if not replace:
        try:
            target.rmdir()  # an empty directory is no store: take its place
        except OSError:
            pass
        try:
            if _rename2(staging, target, _RENAME_NOREPLACE):
                return
            if target.exists():
                raise FileExistsError(errno.EEXIST, "exists", str(target))
            os.rename(staging, target)
        except FileExistsError:
            raise StoreExistsError(
                f"a store appeared at {str(target)!r} while this one was written; "
                "it was left as it is and this write was discarded"
            ) from None
        return
    if not target.exists():
        # nothing to replace any more: create it, leaving staging empty
        os.rename(staging, target)
        return
    if _rename2(staging, target, _RENAME_EXCHANGE):
        return
    aside = staging.with_name(staging.name + "-old")
    os.rename(target, aside)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(aside, target)
        raise
    # the commit point has passed: the old store beside it goes with the staging
    # (remove_staging), and a failure to move it now must not undo the write
    try:
        os.rename(aside, staging)
    except OSError:
        pass


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    # a half-finished two-rename swap leaves this beside it
    shutil.rmtree(path.with_name(path.name + "-old"), ignore_errors=True)


def staging_suffix() -> str:
    """What follows ``.NAME`` in a fresh staging name: the mark, then its writer."""
    started = int(_STARTED or 0)
    return f"{STAGING_MARK}{_HOST}-{os.getpid()}-{started}-{uuid.uuid4().hex[:12]}"


def staging_name(target_name: str) -> str:
    """A fresh staging name beside a store called *target_name*, naming its writer."""
    return f".{target_name}{staging_suffix()}"


def _writer_of(name: str, target_name: str) -> dict[str, Any] | None:
    """The writer a staging name records, or None if *name* is not *target_name*'s staging."""
    prefix = f".{target_name}{STAGING_MARK}"
    if not name.startswith(prefix):
        return None
    host, _, rest = name[len(prefix) :].partition("-")
    fields = rest.split("-")
    if len(fields) < 3 or not (fields[0].isdigit() and fields[1].isdigit()):
        return None
    return {"host": host, "pid": int(fields[0]), "pid_started": float(fields[1]) or None}


def _dead_staging(names: list[str], target_name: str) -> list[str]:
    """The staging names among *names* whose writer is gone (this host's only)."""
    dead = []
    for name in names:
        writer = _writer_of(name, target_name)
        # another host's pids mean nothing here: its staging is left alone
        if writer is not None and writer["host"] == _HOST:
            if not writer_alive({**writer, "host": HOST}):
                dead.append(name)
    return dead


def sweep_staging(target: Path | Location) -> None:
    """Remove staging left beside *target* by writers that are gone.

    A write killed outright (SIGKILL) cannot clean up after itself; the next
    write to the same store, or :func:`xzarrio.repair`, does it. A local store
    that a killed two-rename swap left aside is put back.
    """
    if isinstance(target, Location):
        if target.path is None:
            _sweep_object_staging(target)
            return
        target = target.path
    try:
        names = sorted(p.name for p in target.parent.iterdir())
    except OSError:
        return
    for name in _dead_staging(names, target.name):
        sibling = target.with_name(name)
        if name.endswith("-old"):
            # a two-rename swap killed between its renames: this is the old store
            if not target.exists():
                os.rename(sibling, target)
            continue  # never delete what may be the only copy of a store
        shutil.rmtree(sibling, ignore_errors=True)


def _sweep_object_staging(location: Location) -> None:
    if not isinstance(location, ObjectPrefix):
        return  # a store in memory is staged in memory: nothing outlives its writer
    around = location.around()
    if around is None:
        return
    try:
        names = sync(list_names(around))
    except (OSError, ValueError):
        return
    for name in _dead_staging(names, posixpath.basename(location.prefix)):
        sync(delete_under(around, name))


def open_staging(target: Path) -> tuple[Path, list[Path]]:
    """Make a fresh staging folder beside *target*; return it and the folders made for it.

    Staging left by writers that are gone is swept first.
    """
    made = [p for p in target.parents if not p.exists()]
    staging = target.with_name(staging_name(target.name))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as error:
        remove_made(made)
        raise StoreNotWritableError(
            f"cannot create a store at {str(target)!r}: its folder {str(target.parent)!r} "
            f"does not take new entries ({error.strerror})"
        ) from None
    sweep_staging(target)
    return staging, made


def swap_in(staging: Path, target: Path, *, replace: bool) -> None:
    """Put the complete store at *staging* in *target*'s place; *staging* is left to
    :func:`remove_staging` (it holds the old store then, if any).

    With *replace* an existing store at *target* is replaced in one step
    (``mode="w"``); without it a store that appeared meanwhile is an error.
    """
    _swap_in(staging, target, replace=replace)


def remove_staging(staging: Path, made: Sequence[Path] = ()) -> None:
    """Remove a staging folder (and what a half-done swap left), then the folders made."""
    _remove(staging)
    remove_made(list(made))


def remove_made(made: list[Path]) -> None:
    """Remove the folders a write made, innermost first, as far as they are empty."""
    for folder in made:
        try:
            folder.rmdir()
        except OSError:
            break
