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
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InterruptedWriteError, StoreExistsError, StoreNotWritableError
from .stores import is_zarr_dir

__all__ = ["STAGING_MARK", "process_alive", "staged_store", "sweep_staging"]

#: part of the name of every staging directory, so that it can be recognised
STAGING_MARK = ".xzarrio-staging-"

# staging names carry the host: a pid means something only on its own machine
_HOST = socket.gethostname().replace("-", "_")
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def _load_renameat2():  # type: ignore[no-untyped-def]
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
    os.rename(aside, staging)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    # a half-finished two-rename swap leaves this beside it
    shutil.rmtree(path.with_name(path.name + "-old"), ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether a process of this machine with this pid is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_staging(target: Path) -> None:
    """Remove staging directories of *target* whose writing process is gone.

    A write killed outright (SIGKILL) cannot clean up after itself; the next
    write to, or open of, the same store does it.
    """
    # only this machine's: another machine's pids mean nothing here
    prefix = f".{target.name}{STAGING_MARK}{_HOST}-"
    try:
        siblings = sorted(target.parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        if not sibling.name.startswith(prefix):
            continue
        pid = sibling.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        if sibling.name.endswith("-old"):
            # a two-rename swap killed between its renames: this is the old store
            if not target.exists():
                os.rename(sibling, target)
            continue  # never delete what may be the only copy of a store
        shutil.rmtree(sibling, ignore_errors=True)


@contextmanager
def staged_store(target: Path, *, replace: bool) -> Iterator[Path]:
    """Yield a fresh staging path beside *target*; on success swap it in.

    Parameters
    ----------
    target : Path
        The store's final place.
    replace : bool
        Whether an existing store at *target* is replaced (``mode="w"``) or
        must not appear meanwhile (``mode="w-"``).

    The body writes the complete store at the yielded path. When the body
    raises (an exception, ``KeyboardInterrupt``), the staging directory is
    removed and *target* is untouched.
    """
    made = [p for p in target.parents if not p.exists()]
    staging = target.with_name(
        f".{target.name}{STAGING_MARK}{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as error:
        _remove_made(made)
        raise StoreNotWritableError(
            f"cannot create a store at {str(target)!r}: its folder {str(target.parent)!r} "
            f"does not take new entries ({error.strerror})"
        ) from None
    sweep_staging(target)
    done = False
    try:
        yield staging
        _swap_in(staging, target, replace=replace)
        done = True
    finally:
        _remove(staging)
        if not done:
            _remove_made(made)


def _remove_made(made: list[Path]) -> None:
    """Remove the folders a write made, innermost first, as far as they are empty."""
    for folder in made:
        try:
            folder.rmdir()
        except OSError:
            break
