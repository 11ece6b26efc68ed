"""The fault table's commit steps: whatever fails after the data, nothing is lost or silent.

After its chunks, a write records the manifests, stamps the provenance,
consolidates the metadata and commits (a local store in place: its journal's
header removed; a new local store: the swap; an object store: its journal's
header deleted, after the copy into place of a replacement). Each row makes
one of those steps fail, once or until the store is repaired, and asserts
that the store is byte for byte as before, or that the write raised an
:class:`~xzarrio.errors.XzarrioError` naming ``xzarrio.repair(path)``, the
store is refused until then, and ``repair`` puts it back.

Past the commit point nothing can be rolled back: a failure to clear what the
commit leaves is a warning that says the write is committed.
"""

from __future__ import annotations

import errno
import inspect
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr
import zarr.api.asynchronous
from zarr.abc.store import Store
from zarr.core.buffer import Buffer

import xzarrio
import xzarrio.atomic
import xzarrio.writing.execution
from xzarrio.errors import InterruptedWriteError, XzarrioError
from xzarrio.journal import JOURNAL_SUFFIX
from xzarrio.writing import transactions

from .conftest import snapshot
from .faults import CHUNK, COLS, ROWS, base, noise
from .test_fault_table import MODES, Place, _fill, _make_base, local_place, s3_place

STEPS = ["manifests", "stamp", "consolidation", "commit"]
#: every step of every mode but an in-place write's consolidation, which is its stamp's
#: write: a region write keeps its arrays' metadata, and the stamp keeps their
#: consolidated copy beside the attributes; an append's stamp writes the copy of the
#: arrays it holds with them
_STEPS_OF_MODES = [
    (mode, step)
    for mode in MODES
    for step in STEPS
    if (mode, step) not in {("region", "consolidation"), ("append", "consolidation")}
]
_COMMITS = [
    transactions.InPlaceLocal,
    transactions.InPlaceObject,
    transactions.StagedFolder,
    transactions.StagedPrefix,
]


@dataclass
class Fault:
    """One step of the commit that fails: while it runs, and, if *lasting*, until stopped."""

    step: str
    lasting: bool
    place: Place
    #: the step is running; the failure is on; how many calls it failed
    running: bool = False
    on: bool = False
    fired: int = 0
    #: inside Write.end (a store changed in place stamps there, not with its metadata)
    ending: bool = False

    @property
    def s3(self) -> Any:
        return self.place.extra.get("s3")

    def start(self) -> None:
        self.on = True
        if self.s3 is not None and self.step != "commit":
            self.s3.proxy.refuse_puts(lambda path: True)  # the server refuses every PUT

    def stop(self) -> None:
        self.on = False
        if self.s3 is not None:
            self.fired += self.s3.proxy.refused
            self.s3.proxy.allow_all()

    def during(self, step: Callable[..., Any], *, in_end: bool = False) -> Callable[..., Any]:
        """*step* (a function or a coroutine function) with the failure on while it runs
        (inside Write.end only, if *in_end*)."""
        if inspect.iscoroutinefunction(step):

            async def failing_coroutine(*args: Any, **kwargs: Any) -> Any:
                if in_end and not self.ending:
                    return await step(*args, **kwargs)
                with self._failing():
                    return await step(*args, **kwargs)

            return failing_coroutine

        def failing_step(*args: Any, **kwargs: Any) -> Any:
            if in_end and not self.ending:
                return step(*args, **kwargs)
            with self._failing():
                return step(*args, **kwargs)

        return failing_step

    @contextmanager
    def _failing(self) -> Iterator[None]:
        self.running = True
        self.start()
        try:
            yield
        finally:
            self.running = False
            if not self.lasting:
                self.stop()

    def fails(self) -> bool:
        if self.on:
            self.fired += 1
        return self.on


@contextmanager
def injected(fault: Fault, mode: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fault]:
    """Arm *fault* on the step it names: the step wrapped, the store's calls made to fail."""
    end = xzarrio.writing.execution.Write.end

    def end_marked(write: Any) -> Any:
        fault.ending = True
        try:
            return end(write)
        finally:
            fault.ending = False

    monkeypatch.setattr(xzarrio.writing.execution.Write, "end", end_marked)
    in_end = mode != "w"  # a new store is stamped and consolidated with its metadata
    if fault.step == "manifests":
        record = xzarrio.writing.execution.record_manifests
        monkeypatch.setattr(xzarrio.writing.execution, "record_manifests", fault.during(record))
    elif fault.step == "stamp":  # xarray's attributes and the stamp's alike
        update = fault.during(zarr.AsyncGroup.update_attributes, in_end=in_end)
        monkeypatch.setattr(zarr.AsyncGroup, "update_attributes", update)
    elif fault.step == "consolidation":  # zarr's own synchronous call goes through it
        consolidate = fault.during(zarr.api.asynchronous.consolidate_metadata, in_end=in_end)
        monkeypatch.setattr(zarr.api.asynchronous, "consolidate_metadata", consolidate)
    else:
        for kind in _COMMITS:
            monkeypatch.setattr(kind, "commit", fault.during(kind.commit))
    _make_calls_fail(fault, monkeypatch)
    try:
        yield fault
    finally:
        fault.stop()


def _make_calls_fail(fault: Fault, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store calls that fail while *fault* is on."""
    if fault.step != "commit":
        if fault.s3 is None:  # on S3 the server refuses PUTs (Fault.start)
            local = xzarrio.seams.InlineLocalStore  # what xzarrio writes local stores with
            set_ = local.set

            async def failing_set(store: Store, key: str, value: Buffer) -> None:
                if fault.fails():
                    raise OSError(errno.EIO, "injected: the disk failed", key)
                await set_(store, key, value)  # type: ignore[arg-type]

            monkeypatch.setattr(local, "set", failing_set)
        return
    # the commit: the journal (its header, its folder) cannot be removed, or the swap fails
    unlink, rename, rename2 = os.unlink, os.rename, xzarrio.atomic._rename2
    delete = zarr.storage.FsspecStore.delete

    def failing_unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if JOURNAL_SUFFIX in str(path) and str(path).endswith("journal.json") and fault.fails():
            raise OSError(errno.EIO, "injected: the disk failed", str(path))
        unlink(path, *args, **kwargs)

    def failing_rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if JOURNAL_SUFFIX in str(src) and fault.fails():
            raise OSError(errno.EIO, "injected: the disk failed", str(src))
        rename(src, dst, *args, **kwargs)

    def failing_rename2(src: Path, dst: Path, flags: int) -> bool:
        if fault.fails():
            raise OSError(errno.EIO, "injected: the disk failed", str(src))
        return rename2(src, dst, flags)

    async def failing_delete(store: zarr.storage.FsspecStore, key: str) -> None:
        if key == "journal.json" and fault.fails():
            raise PermissionError(errno.EACCES, "injected: Access Denied", key)
        await delete(store, key)

    monkeypatch.setattr(os, "unlink", failing_unlink)
    monkeypatch.setattr(os, "rename", failing_rename)
    monkeypatch.setattr(xzarrio.atomic, "_rename2", failing_rename2)
    monkeypatch.setattr(zarr.storage.FsspecStore, "delete", failing_delete)


def _place(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if kind == "s3":
        return _make_base(s3_place(request.getfixturevalue("s3_bucket")))
    return _make_base(local_place(tmp_path))


def _expected(kind: str, mode: str, step: str, lasting: bool) -> str:
    """How a row ends: the store as before, or an error naming repair and then repaired."""
    if not lasting or (mode == "w" and step != "commit"):
        return "as before"  # rolled back once the fault is gone; a new store's staging dropped
    if step == "commit":  # the journal's header cannot go: played back, then kept for repair
        return "as before" if kind == "local" and mode == "w" else "repaired"
    # the store refuses every write: on a local disk the rollback renames, on S3 it copies
    return "as before" if kind == "local" else "repaired"


def _settle(place: Place, fault: Fault, before: dict[str, str], error: BaseException) -> str:
    """Say how the failed write left the store; repair it where the error says so."""
    if place.look() == before:
        fault.stop()
        np.testing.assert_array_equal(place.reopen().v.values, base().v.values)
        return "as before"
    assert isinstance(error, XzarrioError), repr(error)
    shown = repr(str(place.store))
    assert f"xzarrio.repair({shown})" in str(error), str(error)
    with pytest.raises(InterruptedWriteError, match=r"xzarrio\.repair\("):
        place.reopen()
    fault.stop()
    assert len(xzarrio.repair(place.store, storage_options=place.storage_options)) == 1
    assert place.look() == before
    np.testing.assert_array_equal(place.reopen().v.values, base().v.values)
    return "repaired"


@pytest.mark.parametrize("lasting", [False, True], ids=["once", "until-repaired"])
@pytest.mark.parametrize(
    ("mode", "step"), _STEPS_OF_MODES, ids=[f"{m}-{s}" for m, s in _STEPS_OF_MODES]
)
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_failing_commit_step(
    kind: str,
    mode: str,
    step: str,
    lasting: bool,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    place = _place(kind, request, tmp_path)
    before = place.look()
    with injected(Fault(step, lasting, place), mode, monkeypatch) as fault:
        with pytest.raises((OSError, XzarrioError)) as info:
            place.write(mode, noise())
        assert fault.fired or (place.extra.get("s3") and place.extra["s3"].proxy.refused)
        assert _settle(place, fault, before, info.value) == _expected(kind, mode, step, lasting)


# ---------------------------------------------------------------------- past the commit point


def test_a_local_journal_left_behind_after_the_commit_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = _make_base(local_place(tmp_path))
    rmdir = os.rmdir

    def failing_rmdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if str(path).endswith(JOURNAL_SUFFIX) or f"{JOURNAL_SUFFIX}/" in str(path):
            raise OSError(errno.EBUSY, "injected: busy", str(path))
        rmdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "rmdir", failing_rmdir)
    with pytest.warns(RuntimeWarning, match=r"is committed.*xzarrio\.repair\("):
        place.write("region", noise())
    monkeypatch.undo()
    assert xzarrio.repair(place.store) == []  # nothing to roll back; the leftover is swept
    assert not any(JOURNAL_SUFFIX in name for name in place.look())
    np.testing.assert_array_equal(place.reopen().v.values, noise().v.values)


@pytest.mark.parametrize("mode", MODES)
def test_s3_leftovers_after_the_commit_are_a_warning(
    mode: str, s3_bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's keys (and a replacement's staged copy) cannot be deleted once the
    journal's header is gone: the write stands, and says so."""
    place = _make_base(s3_place(s3_bucket))
    delete_dir = zarr.storage.FsspecStore.delete_dir

    async def failing_delete_dir(store: zarr.storage.FsspecStore, prefix: str) -> None:
        if JOURNAL_SUFFIX in store.path or xzarrio.atomic.STAGING_MARK in store.path:
            raise PermissionError(errno.EACCES, "injected: Access Denied", store.path)
        await delete_dir(store, prefix)

    monkeypatch.setattr(zarr.storage.FsspecStore, "delete_dir", failing_delete_dir)
    with pytest.warns(RuntimeWarning, match="is committed"):
        place.write(mode, noise())
    monkeypatch.undo()
    # read as plain xarray does: xzarrio's readers wait while journal keys are there
    got = xr.open_zarr(place.store, storage_options=place.storage_options).v.values
    np.testing.assert_array_equal(got[-ROWS:], noise().v.values)


@pytest.mark.parametrize("mode", MODES)
def test_an_interrupt_past_the_commit_point_leaves_the_write_committed(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the journal (or a replaced store's staging) is cleared away, after
    the commit point: the write stands, whole, and is not half played back."""
    place = _make_base(local_place(tmp_path))
    rmtree = shutil.rmtree

    def interrupted_rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        if JOURNAL_SUFFIX in str(path) or xzarrio.atomic.STAGING_MARK in str(path):
            raise KeyboardInterrupt
        rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", interrupted_rmtree)
    with pytest.raises(KeyboardInterrupt) as info:
        place.write(mode, noise())
    monkeypatch.undo()
    assert any("is committed" in note for note in info.value.__notes__)
    xzarrio.repair(place.store)  # sweeps what the interrupt left; rolls nothing back
    got = place.reopen().v.values
    np.testing.assert_array_equal(got[-ROWS:], noise().v.values)
    assert not any(JOURNAL_SUFFIX in name for name in place.look())


# ---------------------------------------------------------------------- a full disk


def test_rollback_of_chunks_shared_in_part_on_a_persistently_full_disk(tmpfs: Path) -> None:
    """A region write that covers two stored chunks in part writes the first, fills the
    disk and fails: the rollback, on the full disk, puts the old chunk back by renaming
    the link its journal kept, writing nothing."""
    path = tmpfs / "s.zarr"
    base().zio.to_zarr(path, chunks={"t": CHUNK})
    filler = tmpfs / "filler"
    filler.touch()
    part = {"t": slice(5, 15)}
    base().isel(part).zio.to_zarr(path, region=part)  # the same values; makes the lock file
    before = snapshot(tmpfs)
    first = os.stat(path / "v" / "c" / "0" / "0").st_ino

    def fill_then_fail(block: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None  # dask passes it
        if block_info[None]["array-location"][0][0] == 5:  # the second block, chunk 1's part
            _fill(tmpfs, leave=0)
            raise RuntimeError("the disk is full now")
        return block

    data = da.map_blocks(fill_then_fail, da.full((10, COLS), -1.0, chunks=(5, COLS)), dtype="f8")
    with pytest.raises(RuntimeError, match="the disk is full now") as info:
        xr.Dataset({"v": (("t", "x"), data)}).zio.to_zarr(
            path, region=part, scheduler="synchronous"
        )
    assert not getattr(info.value, "__notes__", None), info.value.__notes__  # rolled back
    assert os.stat(path / "v" / "c" / "0" / "0").st_ino == first  # renamed back, not written
    filler.write_bytes(b"")
    assert snapshot(tmpfs) == before
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, base().v.values)
