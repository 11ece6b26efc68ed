"""``Dataset.zio.rechunk``: every way chunks cross, one pass or two, in bounded memory.

Each case writes a source store in its chunks, reopens it lazily, rechunks it
and checks the values, the encodings and the stored chunks; a small
``max_mem`` forces the two passes through an intermediate store, a large one
the single pass.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
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

from .conftest import assert_same_data

#: name → (dims, shape, stored chunks of the source, chunks asked of the rechunk)
CASES: dict[str, tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...], dict[str, int]]] = {
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


@pytest.mark.parametrize("max_mem", ["48KiB", "1GiB"], ids=["two passes", "one pass"])
@pytest.mark.parametrize("case", list(CASES))
def test_values_and_encodings_survive_every_crossing(
    tmp_path: Path, case: str, max_mem: str
) -> None:
    dims, shape, source_chunks, asked = CASES[case]
    src = write_source(tmp_path, dims, shape, source_chunks)
    layout = rechunking.plan_rechunk(src, asked, max_mem=max_mem, num_workers=2)
    assert layout.passes == (2 if max_mem == "48KiB" else 1)

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


def test_the_codecs_of_the_source_are_kept_unless_one_is_asked_for(tmp_path: Path) -> None:
    ds = source_dataset(("time", "y", "x"), (20, 8, 10))
    ds.zio.to_zarr(tmp_path / "src.zarr", chunks={"time": 2}, compressor="lz4")
    src = xzarrio.open_zarr(tmp_path / "src.zarr")
    layout = rechunking.plan_rechunk(src, {"time": -1, "y": 2}, max_mem="8KiB")
    assert layout.passes == 2
    src.zio.rechunk(tmp_path / "same.zarr", {"time": -1, "y": 2}, max_mem="8KiB")
    src.zio.rechunk(tmp_path / "gzip.zarr", {"time": -1}, compressor="gzip")
    with quiet_spec_notes():  # lz4 is numcodecs' codec, not the spec's
        kept = zarr.open_array(tmp_path / "same.zarr", path="temp").compressors
        assert kept == zarr.open_array(tmp_path / "src.zarr", path="temp").compressors
        gzip = zarr.open_array(tmp_path / "gzip.zarr", path="temp").compressors
    assert [type(c).__name__ for c in gzip] == ["GzipCodec"]


def test_a_chunk_over_max_mem_per_worker_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (40, 20, 20), (4, 20, 20))
    # a target chunk of 40 * 20 * 20 values, float64 once decoded: 128 kB
    with pytest.raises(
        ChunkMemoryError, match=r"variable 'temp': a target chunk \(40, 20, 20\) holds 125.00 kiB"
    ):
        src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1}, max_mem="200KB", num_workers=2)
    assert not (tmp_path / "dst.zarr").exists()
    assert leftovers(tmp_path) == []
    # on one worker it fits
    src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1}, max_mem="200KB", num_workers=1)
    assert_same_data(xzarrio.open_zarr(tmp_path / "dst.zarr"), src)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_mem": "lots"}, InvalidArgumentError, "max_mem='lots' is not a size"),
        ({"max_mem": 0}, InvalidArgumentError, "at least 1 byte"),
        ({"max_mem": 1.5}, TypeError, "max_mem=1.5 is not a size"),
        ({"mode": "a"}, InvalidArgumentError, "a rechunk makes a new store"),
        ({"checksums": True}, InvalidArgumentError, "writes no chunk checksums"),
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
            tmp_path / "dst.zarr", {"time": -1, "y": 2}, **{"max_mem": "8KiB", **kwargs}
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
            tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="8KiB", temp_store=temp,
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
        src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="16KiB")
    assert len(seen) == 1 and len(seen[0]) == 1  # it was there, beside the target
    assert seen[0][0].startswith(".dst.zarr.xzarrio-staging-")
    assert seen[0][0].endswith("-rechunk")
    assert leftovers(tmp_path) == []


def test_a_store_object_as_temp_store_keeps_only_what_was_in_it(tmp_path: Path) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    temp = zarr.storage.MemoryStore()
    zarr.create_array(temp, name="theirs", shape=(3,), dtype="i4")
    before = set(temp._store_dict)
    src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="8KiB", temp_store=temp)
    assert set(temp._store_dict) == before
    assert_same_data(xzarrio.open_zarr(tmp_path / "dst.zarr"), src)


def test_a_dataset_in_memory_and_a_dataarray_are_rechunked_too(tmp_path: Path) -> None:
    ds = source_dataset(("time", "y", "x"), (20, 8, 10))
    ds["temp"].encoding = {}  # float32 as it is, to compare with what is in memory
    ds.zio.rechunk(tmp_path / "mem.zarr", {"time": -1, "y": 2})
    assert_same_data(xzarrio.open_zarr(tmp_path / "mem.zarr"), ds)
    assert xzarrio.open_zarr(tmp_path / "mem.zarr")["temp"].encoding["chunks"] == (20, 2, 10)
    da = ds["temp"].chunk({"time": 1})
    da.zio.rechunk(tmp_path / "da.zarr", {"time": -1, "x": 5}, max_mem="8KiB")
    xr.testing.assert_identical(xzarrio.open_zarr(tmp_path / "da.zarr")["temp"].load(), da.load())


def test_rechunk_between_stores_of_the_s3_server(s3_bucket: Any) -> None:
    options = s3_bucket.storage_options
    source = source_dataset(("time", "y", "x"), (30, 8, 10))
    source.zio.to_zarr(f"{s3_bucket.url}/src.zarr", chunks={"time": 2}, storage_options=options)
    src = xzarrio.open_zarr(f"{s3_bucket.url}/src.zarr", storage_options=options)
    src.zio.rechunk(
        f"{s3_bucket.url}/dst.zarr", {"time": -1, "y": 2}, max_mem="16KiB",
        storage_options=options,
    )  # fmt: skip
    out = xzarrio.open_zarr(f"{s3_bucket.url}/dst.zarr", storage_options=options)
    assert_same_data(out, src)
    assert out["temp"].encoding["chunks"] == (30, 2, 10)
    assert not [key for key in s3_bucket.snapshot() if "xzarrio-staging" in key]


def test_rechunk_on_a_cluster(tmp_path: Path, cluster_client: Any) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (30, 8, 10), (2, 8, 10))
    src.zio.rechunk(
        tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="16KiB", scheduler=cluster_client
    )
    assert_same_data(xzarrio.open_zarr(tmp_path / "dst.zarr"), src)
    assert leftovers(tmp_path) == []


def test_a_rechunk_into_a_store_in_memory_goes_through_a_local_temp_folder(
    tmp_path: Path,
) -> None:
    src = write_source(tmp_path, ("time", "y", "x"), (20, 8, 10), (2, 8, 10))
    memory = zarr.storage.MemoryStore()
    src.zio.rechunk(memory, {"time": -1, "y": 2}, max_mem="16KiB")
    assert rechunking.plan_rechunk(src, {"time": -1, "y": 2}, max_mem="16KiB").passes == 2
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
ds.zio.rechunk(dst, {"time": -1, "y": 2}, max_mem="16KiB", num_workers=1)
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
    src.zio.rechunk(tmp_path / "dst.zarr", {"time": -1, "y": 2}, max_mem="16KiB")
    assert leftovers(tmp_path) == []
    assert_same_data(xzarrio.open_zarr(tmp_path / "dst.zarr"), src)
