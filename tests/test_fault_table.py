"""The fault table: nothing lost, whatever fails, however the store is reached.

Every row injects one fault into one kind of write on one kind of store, and
compares every key and byte of the store's place (the store, its staging and
its journals) before and after:

- faults: an exception in a task; Ctrl-C; a store call failing on one chunk
  while the other chunk writes crawl; a full disk (on S3: the server refusing PUTs);
- writes: ``mode="w"``, an append, a region write;
- stores: a local directory, a bucket of a real S3 server on 127.0.0.1 (by its URL,
  through fsspec, and as zarr's ``ObjectStore`` over obstore), a local directory
  written by a ``distributed.Client``, a store object that wraps
  a local directory (a ``zarr.storage.WrapperStore``, as zarr's ``LoggingStore`` is).

A writer killed outright (SIGKILL) is in the table too, recovered by ``repair``.
"""

from __future__ import annotations

import _thread
import asyncio
import errno
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr
from zarr.abc.store import Store
from zarr.core.buffer import Buffer

import xzarrio
from xzarrio.seams import InlineLocalStore

from .conftest import snapshot
from .faults import CHUNK, COLS, ROWS, base, crawling, failing, noise, write

MODES = ["w", "append", "region"]


@dataclass
class Place:
    """A store to break, and how to see all of what is there."""

    store: Any
    storage_options: dict[str, Any] | None
    scheduler: Any
    look: Callable[[], dict[str, str]]
    #: the store classes its writes go through (whose ``set`` a failing store replaces)
    store_classes: tuple[type[Store], ...]
    fill_disk: Callable[[], None] | None = None
    #: what a write raises where the store refuses a PUT (obstore has its own error)
    refusal: type[BaseException] = PermissionError
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, mode: str, ds: xr.Dataset) -> None:
        options = {"storage_options": self.storage_options} if self.storage_options else {}
        write(mode, ds, self.store, num_workers=2, scheduler=self.scheduler, **options)

    def reopen(self) -> xr.Dataset:
        return xzarrio.open_zarr(self.store, storage_options=self.storage_options)


def _make_base(place: Place) -> Place:
    options = {"storage_options": place.storage_options} if place.storage_options else {}
    base().zio.to_zarr(place.store, chunks={"t": CHUNK}, **options)
    return place


def s3_place(s3: Any, name: str = "s.zarr", *, obstore: bool = False) -> Place:
    """A store in the test bucket *s3*, by its URL (fsspec), or if *obstore* as zarr's
    ``ObjectStore`` over obstore's ``S3Store``; its full disk is the server refusing a
    chunk's PUT."""
    refusal: type[BaseException] = PermissionError
    store_class: type[Store] = zarr.storage.FsspecStore
    store, keywords = s3.store(name, "obstore" if obstore else "fsspec")
    if obstore:
        from obstore.exceptions import PermissionDeniedError

        store_class, refusal = zarr.storage.ObjectStore, PermissionDeniedError
    return Place(
        store=store,
        storage_options=keywords.get("storage_options"),
        scheduler="threads",
        look=s3.snapshot,
        store_classes=(store_class,),
        fill_disk=lambda: s3.proxy.refuse_puts(_nth_chunk_put(6)),
        refusal=refusal,
        extra={"s3": s3, "as_argument": f"obstore:{s3.endpoint}/{s3.name}/{name}"}
        if obstore
        else {"s3": s3},
    )


def local_place(
    folder: Path, scheduler: Any = "threads", *, wrapped: bool = False, **kwargs: Any
) -> Place:
    """A store in the local *folder*, everything in the folder its place; if *wrapped*,
    given as a store object that wraps a ``LocalStore`` of it."""
    path = folder / "s.zarr"
    return Place(
        store=zarr.storage.WrapperStore(zarr.storage.LocalStore(path)) if wrapped else path,
        storage_options=None,
        scheduler=scheduler,
        look=lambda: snapshot(folder),
        # xzarrio writes local stores through its own; a wrapper goes to the store it wraps
        store_classes=(InlineLocalStore, zarr.storage.LocalStore)
        if wrapped
        else (InlineLocalStore,),
        extra={"wrapped": wrapped, "path": path, "as_argument": f"wrapped:{path}"}
        if wrapped
        else {"wrapped": wrapped, "path": path},
        **kwargs,
    )


@pytest.fixture(params=["local", "s3", "obstore", "client", "wrapped"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if request.param in ("s3", "obstore"):
        s3 = request.getfixturevalue("s3_bucket")
        return _make_base(s3_place(s3, obstore=request.param == "obstore"))
    client = request.param == "client"
    scheduler = request.getfixturevalue("cluster_client") if client else "threads"
    return _make_base(local_place(tmp_path, scheduler, wrapped=request.param == "wrapped"))


def _nth_chunk_put(n: int) -> Callable[[str], bool]:
    """A proxy rule that refuses the *n*-th PUT of a chunk (zarr 3 keys: .../c/ROW/COL) only."""
    seen = {"chunks": 0}
    lock = threading.Lock()

    def refuse(path: str) -> bool:
        if "/c/" not in path:
            return False
        with lock:
            seen["chunks"] += 1
            return seen["chunks"] == n

    return refuse


def _assert_as_before(place: Place, before: dict[str, str]) -> None:
    assert place.look() == before
    np.testing.assert_array_equal(place.reopen().v.values, base().v.values)


# ---------------------------------------------------------------------- the faults


@pytest.mark.parametrize("mode", MODES)
def test_exception_in_a_task(place: Place, mode: str) -> None:
    before = place.look()
    with pytest.raises(RuntimeError, match="a task failed"):
        place.write(mode, failing(RuntimeError("a task failed")))
    _assert_as_before(place, before)


@pytest.mark.parametrize("mode", MODES)
def test_exception_in_a_task_on_worker_processes(
    mode: str, tmp_path: Path, process_cluster: Any
) -> None:
    """The abort event and the drain reach workers in other processes, not only threads."""
    place = _make_base(local_place(tmp_path, process_cluster))
    before = place.look()
    with pytest.raises(RuntimeError, match="a task failed"):
        place.write(mode, failing(RuntimeError("a task failed")))
    _assert_as_before(place, before)


@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c(place: Place, mode: str) -> None:
    """Ctrl-C mid-write. The garbage collector is paused meanwhile: Python swallows a
    KeyboardInterrupt that lands inside a gc callback (distributed installs one while any
    cluster of the session is alive), and the write would then simply finish. Python's
    own SIGINT handler is set for the while: where another handler was left in place,
    ``interrupt_main`` does nothing, and the failure names that handler."""
    before = place.look()
    timer = threading.Timer(0.4, _thread.interrupt_main)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    gc.disable()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            place.write(mode, crawling(0.05))
            pytest.fail(f"the write ended first; SIGINT's handler was {handler!r}")
    finally:
        timer.cancel()
        gc.enable()
        signal.signal(signal.SIGINT, handler)
    _assert_as_before(place, before)


@pytest.mark.parametrize("mode", MODES)
def test_store_failure_on_one_chunk_while_others_crawl(
    place: Place, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-memory data; the store's fifth chunk write fails, the others are slow to land."""
    count = {"chunks": 0}
    lock = threading.Lock()

    def failing(original: Any) -> Any:
        async def failing_set(self: Store, key: str, value: Buffer) -> None:
            if "/c/" in key:
                with lock:
                    count["chunks"] += 1
                    fail = count["chunks"] == 5
                if fail:
                    raise OSError(errno.EIO, "the store failed", key)
                await asyncio.sleep(0.1)
            return await original(self, key, value)

        return failing_set

    before = place.look()
    for store_class in place.store_classes:
        monkeypatch.setattr(store_class, "set", failing(store_class.set))
    data = xr.Dataset({"v": (("t", "x"), np.full((ROWS, COLS), -1.0))}).chunk({"t": CHUNK})
    data = data.compute() if place.scheduler == "threads" else data  # in memory, as reported
    with pytest.raises(OSError, match="the store failed"):
        place.write(mode, data)
    time.sleep(0.3)  # a write still in flight would land now
    monkeypatch.undo()
    _assert_as_before(place, before)


@pytest.mark.parametrize("mode", MODES)
def test_disk_full(place: Place, mode: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A full disk (a small tmpfs), or on S3 the server refusing PUTs, during the write."""
    if place.fill_disk is None:
        folder = request.getfixturevalue("tmpfs")
        fill = lambda: _fill(folder, leave=64 * 1024)  # noqa: E731
        wrapped = place.extra.get("wrapped", False)
        place = _make_base(local_place(folder, place.scheduler, wrapped=wrapped, fill_disk=fill))
    before = place.look()
    assert place.fill_disk is not None
    place.fill_disk()
    if "s3" not in place.extra:
        before = place.look()  # the filler is part of the place now
    with pytest.raises((OSError, place.refusal)) as info:
        place.write(mode, noise())
    if "s3" not in place.extra:
        assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC, info.value
    else:
        assert isinstance(info.value, place.refusal), info.value
        place.extra["s3"].proxy.allow_all()
    _assert_as_before(place, before)


def _fill(folder: Path, *, leave: int) -> None:
    """Fill the file system of *folder* but for *leave* bytes."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(folder / "filler", "wb") as handle:
        handle.write(b"\0" * max(free - leave, 0))


# ---------------------------------------------------------------------- killed outright

WRITER = Path(__file__).with_name("fault_writer.py")


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["local", "s3", "obstore", "wrapped"])
def test_killed_writer_is_rolled_back_by_repair(
    kind: str, mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A writer through a wrapped LocalStore is found by the repair of the path alone:
    its journal lies beside the folder, not in the dead writer's memory."""
    if kind in ("s3", "obstore"):
        s3 = request.getfixturevalue("s3_bucket")
        place = _make_base(s3_place(s3, obstore=kind == "obstore"))
    else:
        place = _make_base(local_place(tmp_path, wrapped=kind == "wrapped"))
    before = place.look()
    _kill_mid_write(mode, place, tmp_path / "started")
    # a wrapped store is opened and repaired by its path, as a user who reads it would
    store = place.extra["path"] if kind == "wrapped" else place.store
    if mode != "w":
        with pytest.raises(xzarrio.errors.InterruptedWriteError, match=r"xzarrio\.repair\("):
            xzarrio.open_zarr(store, storage_options=place.storage_options)
    done = xzarrio.repair(store, storage_options=place.storage_options)
    assert (mode == "w") == (done == [])
    _assert_as_before(place, before)


def _kill_mid_write(mode: str, place: Place, marker: Path) -> None:
    store = place.extra.get("as_argument", str(place.store))  # as fault_writer.py takes it
    argv = [sys.executable, str(WRITER), mode, store, str(marker)]
    if place.storage_options:
        argv.append(json.dumps(place.storage_options))
    proc = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the writer ended before it began writing"
            assert time.monotonic() < deadline, "the writer never began"
            time.sleep(0.02)
        time.sleep(1.0)  # some chunks written, most not
        assert proc.poll() is None, "the writer finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    marker.unlink()
    assert proc.returncode == -signal.SIGKILL


# ---------------------------------------------------------------------- new stores


@pytest.mark.parametrize("kind", ["local", "s3", "obstore", "memory"])
def test_failed_new_store_leaves_nothing(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """``mode="w-"`` where nothing is: a failure leaves nothing there, journal included."""
    if kind in ("s3", "obstore"):
        s3 = request.getfixturevalue("s3_bucket")
        store, options = s3.store("new.zarr", "obstore" if kind == "obstore" else "fsspec")
        look: Callable[[], Any] = s3.snapshot
    elif kind == "memory":
        store, options = zarr.storage.MemoryStore(), {}
        look = lambda: dict(store._store_dict)  # noqa: E731
    else:
        store, options, look = tmp_path / "new.zarr", {}, lambda: snapshot(tmp_path)
    before = look()
    with pytest.raises(RuntimeError, match="a task failed"):
        failing(RuntimeError("a task failed")).zio.to_zarr(store, num_workers=2, **options)
    assert look() == before


@pytest.mark.slow
@pytest.mark.parametrize("obstore", [False, True], ids=["fsspec", "obstore"])
def test_killed_writer_of_a_new_s3_store_is_rolled_back(
    s3_bucket: Any, tmp_path: Path, obstore: bool
) -> None:
    place = s3_place(s3_bucket, "new.zarr", obstore=obstore)
    before = place.look()
    _kill_mid_write("new", place, tmp_path / "started")
    with pytest.raises(xzarrio.errors.InterruptedWriteError, match=r"xzarrio\.repair\("):
        xzarrio.open_zarr(place.store, storage_options=place.storage_options)
    assert len(xzarrio.repair(place.store, storage_options=place.storage_options)) == 1
    assert place.look() == before
