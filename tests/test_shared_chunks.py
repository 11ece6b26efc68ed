"""Region writes that cover stored chunks in part: locked per chunk, undone by part.

Two writers of the two parts of one stored chunk each read, patch and
rewrite the whole chunk; unlocked, the later one writes the chunk back
without the other's part. Where the store can lock a chunk (a local path, a
store in memory) xzarrio locks each such chunk, and a writer that fails
undoes its own part of the chunk, not the other writer's. Where it cannot
(object stores) the write is refused unless ``allow_partial_chunks=True``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

import xzarrio
import xzarrio.writing.transactions
from xzarrio.errors import RegionError
from xzarrio.journal import LocalJournal

from .conftest import snapshot

ROWS, COLS, CHUNK, HALF = 100, 4, 10, 5


def _column(start: int, stop: int, value: float | None = None) -> xr.Dataset:
    """Rows *start*:*stop* of v, each row holding its own number (or *value*)."""
    rows = np.arange(start, stop, dtype="f8") if value is None else np.full(stop - start, value)
    return xr.Dataset({"v": (("t", "x"), np.repeat(rows[:, None], COLS, axis=1))})


def _store(path: Any) -> None:
    xr.Dataset({"v": (("t", "x"), np.full((ROWS, COLS), -1.0))}).zio.to_zarr(
        path, chunks={"t": CHUNK}
    )


def test_a_region_covering_chunks_in_part_is_written(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    _store(path)
    _column(5, 25).zio.to_zarr(path, region={"t": slice(5, 25)})
    values = xzarrio.open_zarr(path).v.values[:, 0]
    np.testing.assert_array_equal(values[5:25], np.arange(5, 25))
    assert (values[:5] == -1).all() and (values[25:] == -1).all()
    assert not (tmp_path / ".s.zarr.xzarrio-journal").exists()


def test_a_store_in_memory_locks_its_chunks_too() -> None:
    store = zarr.storage.MemoryStore()
    _store(store)
    _column(5, 25).zio.to_zarr(store, region={"t": slice(5, 25)})
    values = xzarrio.open_zarr(store).v.values[:, 0]
    np.testing.assert_array_equal(values[5:25], np.arange(5, 25))


_HALF_OF_EVERY_CHUNK = """
import pathlib, sys, time, numpy as np, xarray as xr, xzarrio
half, rows, cols = (int(a) for a in sys.argv[1:4])
values = np.repeat(np.arange(rows, dtype="f8")[:, None] + 1000 * half, cols // 2, axis=1)
part = xr.Dataset({"v": (("t", "x"), values)})
for path in sys.argv[4:]:
    ready = pathlib.Path(path + ".ready")
    ready.mkdir(exist_ok=True)
    (ready / str(half)).touch()
    while len(list(ready.iterdir())) < 2:  # start together
        time.sleep(0.001)
    part.zio.to_zarr(path, region={"x": slice(half * cols // 2, (half + 1) * cols // 2)})
"""


@pytest.mark.slow
def test_two_processes_write_the_two_halves_of_every_chunk_and_lose_nothing(
    tmp_path: Path,
) -> None:
    # one region write of each process covers half of every stored chunk (10 rows, all
    # columns), both started together; unlocked (plain xarray with safe_chunks=False)
    # most trials lose chunks, as the one writer writes back the other's half as it was
    rows, cols = 200, 200
    trials = [tmp_path / f"trial-{n}.zarr" for n in range(10)]
    for path in trials:
        xr.Dataset({"v": (("t", "x"), np.full((rows, cols), -1.0))}).zio.to_zarr(
            path, chunks={"t": CHUNK}
        )
    command = [sys.executable, "-c", _HALF_OF_EVERY_CHUNK]
    stores = [str(path) for path in trials]
    writers = [
        subprocess.Popen([*command, str(half), str(rows), str(cols), *stores]) for half in (0, 1)
    ]
    assert [writer.wait(timeout=600) for writer in writers] == [0, 0]
    expected = np.arange(rows)[:, None] + np.repeat([0, 1000], cols // 2)
    for path in trials:
        back = xzarrio.open_zarr(path)
        np.testing.assert_array_equal(back.v.values, expected, err_msg=str(path))
        history = back.zio.provenance.history
        assert history[0].text.startswith("2 region writes, the last:"), history[0]


def _fail_late(block: np.ndarray, block_info: Any = None) -> np.ndarray:
    """The block at rows 15:25 of the data fails after the others have been written."""
    if block_info[None]["array-location"][0][0] == 15:
        time.sleep(0.5)
        raise RuntimeError("the last block fails")
    return block


def test_a_failed_writer_undoes_its_own_part_of_a_shared_chunk_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.zarr"
    _store(path)
    data = da.map_blocks(
        _fail_late, da.zeros((25, COLS), chunks=((5, 10, 10), (COLS,))), dtype="f8"
    )
    failing = xr.Dataset({"v": (("t", "x"), data)})
    other_part_written = threading.Event()

    def write_the_other_part() -> None:
        time.sleep(0.2)  # then waits for the lock on chunk 0, which the failing writer holds
        _column(0, 5).zio.to_zarr(path, region={"t": slice(0, 5)})
        other_part_written.set()

    # the failing writer rolls back only once the other writer has written its part of
    # chunk 0 (which it can from when the failing writer's chunk writes have ended)
    playback = LocalJournal.playback

    def playback_after_the_other(journal: LocalJournal, **kwargs: Any) -> None:
        if not other_part_written.is_set():
            assert other_part_written.wait(timeout=60)
        playback(journal, **kwargs)

    monkeypatch.setattr(LocalJournal, "playback", playback_after_the_other)
    other = threading.Thread(target=write_the_other_part)
    other.start()
    with pytest.raises(RuntimeError, match="the last block fails"):
        failing.zio.to_zarr(path, region={"t": slice(5, 30)}, scheduler="threads")
    other.join()
    values = xzarrio.open_zarr(path).v.values[:, 0]
    np.testing.assert_array_equal(values[:5], np.arange(5))  # the other writer's part stays
    assert (values[5:] == -1).all()  # the failed writer's own part is undone


def test_safe_chunks_true_refuses_as_xarray_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    _store(path)
    before = snapshot(tmp_path)
    with pytest.raises(RegionError, match=r"covers stored chunks of 'v' only in part") as info:
        _column(5, 25).zio.to_zarr(path, region={"t": slice(5, 25)}, safe_chunks=True)
    assert isinstance(info.value, ValueError)
    assert snapshot(tmp_path) == before


def test_an_object_store_refuses_chunks_in_part_unless_allowed(s3_bucket: Any) -> None:
    url = f"{s3_bucket.url}/s.zarr"
    options = s3_bucket.storage_options
    xr.Dataset({"v": (("t", "x"), np.full((ROWS, COLS), -1.0))}).zio.to_zarr(
        url, chunks={"t": CHUNK}, storage_options=options
    )
    before = s3_bucket.snapshot()
    with pytest.raises(RegionError, match="this store cannot lock a chunk"):
        _column(5, 25).zio.to_zarr(url, region={"t": slice(5, 25)}, storage_options=options)
    assert s3_bucket.snapshot() == before
    _column(5, 25).zio.to_zarr(
        url, region={"t": slice(5, 25)}, storage_options=options, allow_partial_chunks=True
    )
    values = xzarrio.open_zarr(url, storage_options=options).v.values[:, 0]
    np.testing.assert_array_equal(values[5:25], np.arange(5, 25))


_WRITE_THEN_HANG = """
import sys, time, dask.array as da, numpy as np, xarray as xr, xzarrio

def hang_at_15(block, block_info=None):
    if block_info[None]["array-location"][0][0] == 15:
        time.sleep(600)  # killed here, after its part of the shared chunk 0 is written
    return block

data = da.map_blocks(hang_at_15, da.zeros((25, 4), chunks=((5, 10, 10), (4,))), dtype="f8")
xr.Dataset({"v": (("t", "x"), data)}).zio.to_zarr(
    sys.argv[1], region={"t": slice(5, 30)}, scheduler="threads", num_workers=3
)
"""


def test_repair_undoes_a_killed_writers_part_of_a_shared_chunk(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    _store(path)
    before = snapshot(path)
    writer = subprocess.Popen([sys.executable, "-c", _WRITE_THEN_HANG, str(path)])
    try:
        deadline = time.monotonic() + 120
        while snapshot(path)["v/c/0/0"] == before["v/c/0/0"]:  # its part of chunk 0
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.05)
    finally:
        writer.kill()
        writer.wait()
    with pytest.raises(xzarrio.errors.InterruptedWriteError):
        xzarrio.open_zarr(path)
    xzarrio.repair(path)
    assert snapshot(path) == before


def test_dask_chunks_not_aligned_to_shared_chunks_are_refused_as_xarray(tmp_path: Path) -> None:
    # with align_chunks=False two tasks of one write would patch one stored chunk at once:
    # xarray's own check refuses that, and is kept for it
    path = tmp_path / "s.zarr"
    xr.Dataset({"v": ("x", np.zeros(400))}).zio.to_zarr(path, chunks={"x": 100})
    before = snapshot(tmp_path)
    data = xr.Dataset({"v": ("x", np.arange(10.0, 390.0))}).chunk(x=7)
    with pytest.raises(ValueError, match=r"overlap|align_chunks|safe_chunks"):
        data.zio.to_zarr(path, region={"x": slice(10, 390)}, align_chunks=False)
    assert snapshot(tmp_path) == before
    data.zio.to_zarr(path, region={"x": slice(10, 390)})  # aligned: one task per chunk
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values[10:390], np.arange(10, 390))


def test_chunks_in_part_allowed_by_the_caller_are_written_unlocked(tmp_path: Path) -> None:
    # the caller vouches that no other process writes them: a file system without
    # working locks can still take such writes
    path = tmp_path / "s.zarr"
    _store(path)
    _column(5, 25).zio.to_zarr(path, region={"t": slice(5, 25)}, allow_partial_chunks=True)
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values[5:25, 0], np.arange(5, 25))
    assert not (tmp_path / ".s.zarr.xzarrio-chunks.lock").exists()


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_strings_in_shared_chunks_are_kept_and_put_back(
    tmp_path: Path, zarr_format: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.zarr"
    words = np.array([f"word{i}" for i in range(20)], dtype=object)
    xr.Dataset({"w": ("t", words)}).zio.to_zarr(path, chunks={"t": 10}, zarr_format=zarr_format)
    before = snapshot(tmp_path)
    new = xr.Dataset({"w": ("t", np.array(["new"] * 10, dtype=object))})
    new.zio.to_zarr(path, region={"t": slice(5, 15)})
    assert xzarrio.open_zarr(path).w.values.tolist() == [*words[:5], *["new"] * 10, *words[15:]]
    # and a failed write of them puts the old strings back
    monkeypatch.setattr(xzarrio.writing.transactions, "stamp_in_place", _fail)
    with pytest.raises(RuntimeError, match="stamp fails"):
        xr.Dataset({"w": ("t", np.array(["x"] * 10, dtype=object))}).zio.to_zarr(
            path, region={"t": slice(5, 15)}
        )
    assert xzarrio.open_zarr(path).w.values.tolist() == [*words[:5], *["new"] * 10, *words[15:]]
    assert set(snapshot(tmp_path)) >= set(before)


def _fail(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("stamp fails")
