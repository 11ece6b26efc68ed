"""Checking a store for interrupted writes, and rolling them back.

:func:`check_store` refuses a store that a killed writer left half-written;
:func:`repair` plays back every journal whose writer is dead, removes the
staging such writers left, and sweeps journal folders left without a header.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

from ..errors import InterruptedWriteError, StoreNotFoundError, WriteInProgressError
from ..stores import Location, locate
from .factory import journal_home, journals
from .interface import _HEADER, Journal
from .local import _DISCARDED, _remove_if_empty, journal_dir, journal_folders, store_lock

__all__ = ["check_store", "repair"]


def _describe(journal: Journal, location: Location) -> str:
    record = journal.record
    who = f"process {record['pid']} on {record['host']}"
    return f"a {journal.operation} to {location.shown} started at {record['started']} by {who}"


def check_store(location: Location, *, writing: bool = False) -> list[Journal]:
    """Refuse a store that an interrupted write left half-done; say how to repair it.

    A write still running (its process alive, or its lease current) is not an
    error: a reader gets a ``RuntimeWarning``, a writer goes ahead. Nothing is
    changed on the store. Returns the journals of the writes still running.
    """
    running = []
    for journal in journals(location):
        if journal.alive:
            if not writing:
                warnings.warn(
                    f"{_describe(journal, location)} is in progress; its data may be incomplete",
                    RuntimeWarning,
                    stacklevel=4,
                )
            running.append(journal)
            continue
        raise InterruptedWriteError(
            f"{_describe(journal, location)} was interrupted and left the store half-written; "
            f"roll it back to the state before it with xzarrio.repair({location.shown}) "
            f"(or: xzarrio repair {location.name})"
        )
    return running


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
    home = journal_home(location)
    if isinstance(home, Path):
        sweep_staging(home)  # first: it may put back a store a killed swap left aside
        if not home.is_dir():
            raise StoreNotFoundError(f"no zarr store at {location.shown}: the path does not exist")
        with store_lock(home):
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
    home = journal_home(location)
    if not isinstance(home, Path):
        return
    for entry in journal_folders(home):
        if entry.name.endswith(_DISCARDED) or not (entry / _HEADER).is_file():
            shutil.rmtree(entry, ignore_errors=True)
    _remove_if_empty(journal_dir(home))
