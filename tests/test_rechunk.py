"""``Dataset.zio.rechunk``: every way chunks cross, one pass or two, in bounded memory.

Each case writes a source store in its chunks, reopens it lazily, rechunks it
and checks the values, the encodings and the stored chunks; a small
``max_mem`` forces the two passes through an intermediate store, a large one
the single pass.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import dask.array
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

import xzarrio
from xzarrio import rechunking
from xzarrio.codecs import quiet_spec_notes
from xzarrio.errors import ChunkMemoryError, InvalidArgumentError, InvalidChunksError

from .conftest import assert_same_data, snapshot

#: name → (dims, shape, stored chunks of the source, chunks asked of the rechunk)
CASES: dict[str, tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...], Mapping[Hashable, int]]] = {
    "time steps to time series": (
        ("time", "y", "x"), (60, 24, 30), (3, 24, 30), {"time": -1, "y": 6, "x": 5},
    ),
    "time series to time steps": (
        ("time", "y", "x"), (60, 24, 30), (60, 4, 5), {"time": 4, "y": -1, "x": -1},
    ),
    "uneven last chunks both ways": (
        ("time", "y", "x"), (57, 23, 31), (4, 23, 31), {"time": 19, "y": 5, "x": 7},
    ),
    "chunks that share no divisor": (
        ("time", "y", "x"), (50, 49, 3), (7, 49, 3), {"time": 50, "y": 5, "x": 3},
    ),
    "4-D levels to columns": (
        ("time", "level", "y", "x"), (12, 5, 16, 18), (1, 5, 16, 18),
        {"time": -1, "level": 1, "y": 4, "x": 6},
    ),
    "2-D rows to columns": (("y", "x"), (90, 80), (3, 80), {"y": -1, "x": 2}),
}  # fmt: skip


def source_dataset(dims: tuple[str, ...], shape: tuple[int, ...]) -> xr.Dataset:
    """A field with CF encodings, a time stamp per step, a mask and coordinates."""
    rng = np.random.default_rng(sum(shape))
    field = rng.normal(280, 5, shape).astype("f4")
    field[(0,) * len(shape)] = np.nan
    coords: dict[str, Any] = {d: np.arange(n) for d, n in zip(dims, shape, strict=True)}
    coords[dims[0]] = pd.date_range("2001-01-01", periods=shape[0], freq="6h")
    ds = xr.Dataset(
        {
            "temp": (dims, field, {"units": "K", "long_name": "air temperature"}),
            "mask": (dims[-2:], rng.random(shape[-2:]) > 0.5),
            "stamp": (
                dims[:1] + dims[-1:],
                np.broadcast_to(coords[dims[0]].values[:, None], (shape[0], shape[-1])),
            ),
        },
        coords=coords,
        attrs={"title": "rechunk test", "history": "2020-05-06T07:08:09+00:00: made by hand"},
    )
    ds["temp"].encoding.update(dtype="int16", scale_factor=0.01, add_offset=280, _FillValue=-32768)
    return ds


def write_source(tmp_path: Path, dims: tuple[str, ...], shape: tuple[int, ...],
                 chunks: tuple[int, ...]) -> xr.Dataset:  # fmt: skip
    ds = source_dataset(dims, shape)
    ds.zio.to_zarr(tmp_path / "src.zarr", chunks=dict(zip(dims, chunks, strict=True)))
    return xzarrio.open_zarr(tmp_path / "src.zarr")


def leftovers(folder: Path) -> list[str]:
    """What a rechunk left in *folder* besides the stores the test made (hidden)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def tight_max_mem(shape: tuple[int, ...], source: tuple[int, ...], asked: Mapping[Hashable, int],
                  dims: tuple[str, ...]) -> int:  # fmt: skip
    """Room for the buffers of two tasks of the largest chunk (float64 once decoded)."""
    target = [n if asked[d] == -1 else asked[d] for d, n in zip(dims, shape, strict=True)]
    return 2 * rechunking.BUFFERS * 8 * max(math.prod(source), math.prod(target))


@pytest.mark.parametrize("memory", ["tight", "ample"], ids=["two passes", "one pass"])
@pytest.mark.parametrize("case", list(CASES))
def test_values_and_encodings_survive_every_crossing(
    tmp_path: Path, case: str, memory: str
) -> None:
    dims, shape, source_chunks, asked = CASES[case]
    src = write_source(tmp_path, dims, shape, source_chunks)
    max_mem = tight_max_mem(shape, source_chunks, asked, dims) if memory == "tight" else "1GiB"
    layout = rechunking.plan_rechunk(src, asked, max_mem=max_mem, num_workers=2)
    assert layout.passes == (2 if memory == "tight" else 1)

    src.zio.rechunk(tmp_path / "dst.zarr", asked, max_mem=max_mem, num_workers=2)

    out = xzarrio.open_zarr(tmp_path / "dst.zarr")
    assert_same_data(out, src)
    expected = tuple(n if asked[d] == -1 else asked[d] for d, n in zip(dims, shape, strict=True))
    assert out["temp"].encoding["chunks"] == expected
    for key in ("dtype", "scale_factor", "add_offset", "_FillValue"):
        assert out["temp"].encoding[key] == src["temp"].encoding[key]
    assert out["stamp"].encoding["units"] == src["stamp"].encoding["units"]
    assert leftovers(tmp_path) == []


def test_the_history_names_the_source_and_keeps_its_trail(tmp_path: Path) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1, "y": 4}, history="for series")
    history = xzarrio.open_zarr(tmp_path / "dst.zarr").zio.provenance.history
    line = history[0].text
    assert line.startswith("zio.rechunk(")
    assert f"source={str(tmp_path / 'src.zarr')!r}" in line
    assert "chunks={'time': -1, 'y': 4}" in line
    assert ": for series [xzarrio " in line
    assert [str(e) for e in history[1:]] == [str(e) for e in src.zio.provenance.history]


def test_the_history_of_a_dataarray_rechunk_names_its_source(tmp_path: Path) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    src["temp"].zio.rechunk(tmp_path / "dst.zarr", {"time": -1})
    line = xzarrio.open_zarr(tmp_path / "dst.zarr").zio.provenance.history[0].text
    assert line.startswith("zio.rechunk(")
    assert f"source={str(tmp_path / 'src.zarr')!r}" in line


def test_the_codecs_of_the_source_are_kept_unless_one_is_asked_for(tmp_path: Path) -> None:
    ds = source_dataset(("time", "y", "x"), (20, 8, 10))
    ds.zio.to_zarr(tmp_path / "src.zarr", chunks={"time": 2}, compressor="lz4")
    src = xzarrio.open_zarr(tmp_path / "src.zarr")
    layout = rechunking.plan_rechunk(src, {"time": -1, "y": 2}, max_mem="32KiB")
    assert layout.passes == 2
    src.zio.rechunk(tmp_path / "same.zarr", {"time": -1, "y": 2}, max_mem="32KiB")
    src.zio.rechunk(tmp_path / "gzip.zarr", {"time": -1}, compressor="gzip")
    with quiet_spec_notes():  # lz4 is numcodecs' codec, not the spec's
        kept = zarr.open_array(tmp_path / "same.zarr", path="temp").compressors
        assert kept == zarr.open_array(tmp_path / "src.zarr", path="temp").compressors
        gzip = zarr.open_array(tmp_path / "gzip.zarr", path="temp").compressors
    assert [type(c).__name__ for c in gzip] == ["GzipCodec", "Crc32cCodec"]


def test_a_chunk_whose_buffers_exceed_max_mem_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (40, 20, 20), (4, 20, 20))
    # a target chunk of 40 * 20 * 20 values, float64 once decoded: 128 kB, 512 kB in buffers
    with pytest.raises(
        ChunkMemoryError, match=r"variable 'temp': a target chunk \(40, 20, 20\) holds 125.00 kiB"
    ):
        src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1}, max_mem="500KB", num_workers=2)
    assert not (tmp_path / "dst.zarr").exists()
    assert leftovers(tmp_path) == []
    # where it fits once, one task runs at a time
    assert rechunking.plan_rechunk(src, {"time": -1}, max_mem="600KB", num_workers=2).running == 1
    src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1}, max_mem="600KB", num_workers=2)
    assert_same_data(xzarrio.open_zarr(tmp_path / "dst.zarr"), src)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_mem": "lots"}, InvalidArgumentError, "max_mem='lots' is not a size"),
        ({"max_mem": 0}, InvalidArgumentError, "at least 1 byte"),
        ({"max_mem": 1.5}, TypeError, "max_mem=1.5 is not a size"),
        ({"mode": "a"}, InvalidArgumentError, "a rechunk makes a new store"),
        ({"checksums": "yes"}, TypeError, "checksums takes True or False, got 'yes'"),
        ({"temp_store": 12}, TypeError, "temp_store=12 is not understood"),
    ],
    ids=["max_mem not a size", "max_mem zero", "max_mem float", "mode a", "checksums",
         "temp_store"],
)  # fmt: skip
def test_bad_arguments_are_refused_by_name(
    tmp_path: Path, kwargs: dict[str, Any], error: type, message: str
) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    with pytest.raises(error, match=message):
        src.zio.rechunk(
            tmp_path / "dst.zarr", {"time": -1, "y": 2}, **{"max_mem": "32KiB", **kwargs}
        )
    assert not (tmp_path / "dst.zarr").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "chunks", [{"time": 0}, {"depth": 3}, "auto"], ids=["zero", "missing dim", "auto"]
)
def test_bad_chunks_are_refused(tmp_path: Path, chunks: Any) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    with pytest.raises(InvalidChunksError):
        src.zio.rechunk(tmp_path / "dst.zarr", chunks)


def failing_source(tmp_path: Path) -> xr.Dataset:
    """A lazily read store whose 7th block fails to compute."""
    src = write_source(tmp_path, ("time", "y", "x"), (40, 8, 10), (2, 8, 10))

    def fail_on_block_7(block: np.ndarray, block_info: Any = None) -> np.ndarray:
        if block_info[0]["chunk-location"][0] == 7:
            raise OSError("the disk went away")
        return block

    data = dask.array.map_blocks(fail_on_block_7, src["temp"].data, dtype="f4")
    return src.assign(temp=src["temp"].copy(data=data))


def test_the_temp_store_is_removed_after_a_failed_first_pass(tmp_path: Path) -> None:
    src = failing_source(tmp_path)
    temp = tmp_path / "scratch"
    with pytest.raises(OSError, match="the disk went away"):
        src.zio.rechunk(
            tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="32KiB", temp_store=temp,
            num_workers=2,
        )  # fmt: skip
    assert not (tmp_path / "dst.zarr").exists()
    assert list(temp.iterdir()) == []
    assert leftovers(tmp_path) == []


def test_the_temp_store_is_removed_after_a_failed_last_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (40, 8, 10), (2, 8, 10))
    seen: list[list[str]] = []

    def write_fails(plan: Any) -> Any:
        seen.append(leftovers(tmp_path))
        raise OSError("the target's disk is full")

    monkeypatch.setattr(rechunking, "execute", write_fails)
    with pytest.raises(OSError, match="disk is full"):
        src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="32KiB")
    assert len(seen) == 1 and len(seen[0]) == 1  # it was there, beside the target
    assert seen[0][0].startswith(".dst.zarr.xzarrio-staging-")
    assert seen[0][0].endswith("-rechunk")
    assert leftovers(tmp_path) == []


def test_a_store_object_as_temp_store_keeps_only_what_was_in_it(tmp_path: Path) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    temp = zarr.storage.MemoryStore()
    zarr.create_array(temp, name="theirs", shape=(3,), dtype="i4")
    before = set(temp._store_dict)
    src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="32KiB", temp_store=temp)
    assert set(temp._store_dict) == before
    assert_same_data(xzarrio.open_zarr(tmp_path / "dst.zarr"), src)


def test_a_dataset_in_memory_and_a_dataarray_are_rechunked_too(tmp_path: Path) -> None:
    ds = source_dataset(("time", "y", "x"), (20, 8, 10))
    ds["temp"].encoding = {}  # float32 as it is, to compare with what is in memory
    ds.zio.rechunk(tmp_path / "mem.zarr", {"time": -1, "y": 2})
    assert_same_data(xzarrio.open_zarr(tmp_path / "mem.zarr"), ds)
    assert xzarrio.open_zarr(tmp_path / "mem.zarr")["temp"].encoding["chunks"] == (20, 2, 10)
    da = ds["temp"].chunk({"time": 1})
    da.zio.rechunk(tmp_path / "da.zarr", {"time": -1, "x": 5}, max_mem="32KiB")
    xr.testing.assert_identical(xzarrio.open_zarr(tmp_path / "da.zarr")["temp"].load(), da.load())


def test_rechunk_between_stores_of_the_s3_server(s3_bucket: Any) -> None:
    options = s3_bucket.storage_options
    source = source_dataset(("time", "y", "x"), (30, 8, 10))
    source.zio.to_zarr(f"{s3_bucket.url}/src.zarr", chunks={"time": 2}, storage_options=options)
    src = xzarrio.open_zarr(f"{s3_bucket.url}/src.zarr", storage_options=options)
    src.zio.rechunk(
        f"{s3_bucket.url}/dst.zarr", {"time": -1, "y": 2}, max_mem="32KiB",
        storage_options=options,
    )  # fmt: skip
    out = xzarrio.open_zarr(f"{s3_bucket.url}/dst.zarr", storage_options=options)
    assert_same_data(out, src)
    assert out["temp"].encoding["chunks"] == (30, 2, 10)
    assert not [key for key in s3_bucket.snapshot() if "xzarrio-staging" in key]


def test_a_rechunk_into_a_store_in_memory_goes_through_a_local_temp_folder(
    tmp_path: Path,
) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    memory = zarr.storage.MemoryStore()
    src.zio.rechunk(memory, {"time": -1, "y": 2}, max_mem="32KiB")
    assert rechunking.plan_rechunk(src, {"time": -1, "y": 2}, max_mem="32KiB").passes == 2
    assert_same_data(xzarrio.open_zarr(memory), src)
    assert not list(Path(tempfile.gettempdir()).glob("xzarrio-rechunk-*"))


KILLED = """
import os, signal, sys
import dask.array, xzarrio

src, dst = sys.argv[1:]
ds = xzarrio.open_zarr(src)

def die_on_block_5(block, block_info=None):
    if block_info[0]["chunk-location"][0] == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return block

data = dask.array.map_blocks(die_on_block_5, ds["temp"].data, dtype=ds["temp"].dtype)
ds = ds.assign(temp=ds["temp"].copy(data=data))
ds.zio.rechunk(dst, {"time": -1, "y": 2}, max_mem="32KiB", num_workers=1)
"""


def test_what_a_killed_rechunk_left_is_swept_by_the_next_one(tmp_path: Path) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (40, 8, 10), (2, 8, 10))
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(tmp_path / "src.zarr"), str(tmp_path / "dst.zarr")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = leftovers(tmp_path)
    assert len(left) == 1 and left[0].endswith("-rechunk")
    src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="32KiB")
    assert leftovers(tmp_path) == []
    assert_same_data(xzarrio.open_zarr(tmp_path / "dst.zarr"), src)


def test_a_rechunk_into_an_icechunk_session_commits_once(tmp_path: Path) -> None:
    icechunk = pytest.importorskip("icechunk")
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path / "repo")))
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    report = src.zio.rechunk(
        repo.writable_session("main"), {"time": -1, "y": 2}, max_mem="32KiB", history="series"
    )
    assert report.snapshot_id == repo.lookup_branch("main")
    messages = [snapshot.message for snapshot in repo.ancestry(branch="main")]
    assert len(messages) == 2 and messages[0].split(": ", 1)[1].startswith("zio.rechunk(")
    stored = xzarrio.open_zarr(repo.readonly_session(branch="main"))
    assert_same_data(stored, src)
    assert stored["temp"].encoding["chunks"] == (20, 2, 10)
    assert not list(Path(tempfile.gettempdir()).glob("xzarrio-rechunk-*"))


def test_a_store_in_memory_as_temp_store_is_refused_with_processes(tmp_path: Path) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    with pytest.raises(InvalidArgumentError, match="the processes scheduler cannot write to"):
        src.zio.rechunk(
            tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="32KiB",
            temp_store=zarr.storage.MemoryStore(), scheduler="processes",
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.zarr"]


@pytest.mark.parametrize("where", ["beside", "folder", "memory"])
def test_no_chunk_of_a_failed_first_pass_lands_after_the_scratch_is_removed(
    tmp_path: Path, where: str
) -> None:
    def slow_and_failing(block: np.ndarray, block_info: Any = None) -> np.ndarray:
        if block_info[0]["chunk-location"][0] == 0:
            time.sleep(0.2)
            raise RuntimeError("block 0 failed")
        time.sleep(1)  # still running when block 0 fails
        return block

    data = dask.array.ones((40, 64, 64), chunks=(1, 64, 64)).map_blocks(
        slow_and_failing, dtype="f8"
    )
    temp: Any = {"beside": None, "folder": tmp_path / "scratch",
                 "memory": zarr.storage.MemoryStore()}[where]  # fmt: skip
    with pytest.raises(RuntimeError, match="block 0 failed"):
        xr.Dataset({"v": (("t", "y", "x"), data)}).zio.rechunk(
            tmp_path / "dst.zarr", {"t": -1, "y": 8, "x": 8}, max_mem="256KiB",
            num_workers=2, temp_store=temp,
        )  # fmt: skip
    time.sleep(2)
    assert leftovers(tmp_path) == []
    if where == "folder":
        assert list(temp.iterdir()) == []
    if where == "memory":
        assert temp._store_dict == {}


def test_a_store_given_as_temp_store_is_as_it_was(tmp_path: Path) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    theirs = zarr.open_group(tmp_path / "theirs.zarr", mode="w", zarr_format=2)
    theirs.attrs["keep"] = 1
    theirs.create_array("x", shape=(3,), dtype="i4")
    before = snapshot(tmp_path / "theirs.zarr")
    empty = zarr.storage.MemoryStore()
    for temp in (zarr.storage.LocalStore(tmp_path / "theirs.zarr"), empty):
        src.zio.rechunk(
            tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="32KiB", temp_store=temp,
            mode="w",
        )  # fmt: skip
    assert snapshot(tmp_path / "theirs.zarr") == before
    assert empty._store_dict == {}


def test_a_refused_rechunk_makes_no_folder(tmp_path: Path) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    with pytest.raises(ValueError, match="bogus"):
        src.zio.rechunk(
            tmp_path / "new" / "sub" / "dst.zarr", {"time": -1, "y": 2}, max_mem="32KiB",
            compressor="bogus",
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.zarr"]


def test_a_dimension_of_length_zero(tmp_path: Path) -> None:
    empty = xr.Dataset({"v": (("t", "x"), dask.array.zeros((0, 5), chunks=(1, 5)))})
    empty.zio.rechunk(tmp_path / "e.zarr", {"x": 1})
    assert xzarrio.open_zarr(tmp_path / "e.zarr")["v"].shape == (0, 5)


def test_too_many_workers_for_max_mem_run_fewer_tasks_instead_of_refusing() -> None:
    data = dask.array.zeros((2000, 1000), chunks=(200, 1000), dtype="f4")  # 800 kB chunks
    ds = xr.Dataset({"v": (("t", "x"), data)})
    layout = rechunking.plan_rechunk(ds, {"t": -1, "x": 100}, max_mem="8MB", num_workers=16)
    assert layout.running == 2  # 8 MB ÷ (4 buffers × 800 kB)


def test_stored_chunks_larger_than_the_dask_chunks_are_read_whole(tmp_path: Path) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (40, 8, 10), (20, 8, 10))
    finer = src.chunk({"time": 1})
    layout = rechunking.plan_rechunk(finer, {"time": -1, "y": 2}, max_mem="1MiB")
    assert layout.arrays["temp"].source == (20, 8, 10)
    with pytest.raises(ChunkMemoryError, match=r"a source chunk \(20, 8, 10\)"):
        rechunking.plan_rechunk(finer, {"time": -1, "y": 2}, max_mem="40KB")


def test_dims_left_out_keep_the_current_chunks_as_to_zarr_does(tmp_path: Path) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (40, 8, 10), (2, 8, 10))
    src.chunk({"time": 10}).zio.rechunk(tmp_path / "dst.zarr", {"y": 4})
    assert xzarrio.open_zarr(tmp_path / "dst.zarr")["temp"].encoding["chunks"] == (10, 4, 10)


def test_a_copy_in_the_same_chunks_keeps_the_shards(tmp_path: Path) -> None:
    ds = source_dataset(("time", "y", "x"), (40, 8, 10))
    ds.zio.to_zarr(tmp_path / "src.zarr", encoding={"temp": {"chunks": (2, 8, 10),
                                                              "shards": (10, 8, 10)}})  # fmt: skip
    src = xzarrio.open_zarr(tmp_path / "src.zarr")
    src.zio.rechunk(tmp_path / "copy.zarr", max_mem="1MiB")
    src.zio.rechunk(tmp_path / "series.zarr", {"time": -1}, max_mem="1MiB")
    copied = zarr.open_array(tmp_path / "copy.zarr", path="temp")
    assert (copied.chunks, copied.shards) == ((2, 8, 10), (10, 8, 10))
    series = zarr.open_array(tmp_path / "series.zarr", path="temp")
    assert (series.chunks, series.shards) == ((40, 8, 10), None)
    assert_same_data(xzarrio.open_zarr(tmp_path / "copy.zarr"), src)


def test_a_copy_in_the_same_chunks_streams_a_chunk_or_a_few_per_task() -> None:
    from xzarrio.rechunking.layout import ONE_PASS_BLOCK_BYTES

    big = dask.array.zeros((8000, 7500), chunks=(2000, 7500), dtype="f4")  # 57 MiB chunks
    plan = rechunking.plan_rechunk(xr.Dataset({"v": (("y", "x"), big)}), max_mem="4GiB")
    assert plan.arrays["v"].write == (2000, 7500)
    small = dask.array.zeros((8000, 7500), chunks=(10, 7500), dtype="f4")  # 0.3 MiB chunks
    plan = rechunking.plan_rechunk(xr.Dataset({"v": (("y", "x"), small)}), max_mem="4GiB")
    layout = plan.arrays["v"]
    assert layout.write[0] > 10 and layout.nbytes(layout.write) <= ONE_PASS_BLOCK_BYTES


# last: while the module's Client lives, dask's rule sends scheduler=None to it
def test_rechunk_on_a_cluster(tmp_path: Path, cluster_client: Any) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (30, 8, 10), (2, 8, 10))
    src.zio.rechunk(
        tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="64KiB", scheduler=cluster_client
    )
    assert (
        rechunking.plan_rechunk(
            src, {"time": -1, "y": 2}, max_mem="64KiB", scheduler=cluster_client
        ).passes
        == 2
    )
    assert_same_data(xzarrio.open_zarr(tmp_path / "dst.zarr"), src)
    assert leftovers(tmp_path) == []


def test_a_failed_first_pass_on_a_cluster_leaves_nothing(
    tmp_path: Path, cluster_client: Any
) -> None:
    src = failing_source(tmp_path)
    with pytest.raises(OSError, match="the disk went away"):
        src.zio.rechunk(
            tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="64KiB", scheduler=cluster_client
        )
    time.sleep(1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.zarr"]
