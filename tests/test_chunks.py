"""Stored chunk shapes: zarr's default, ``chunks='auto'``, dask's, and index coordinates'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import zarr

import xzarrio


def test_in_memory_default_chunks_are_zarrs_choice(tmp_path: Path) -> None:
    from zarr.core.chunk_grids import _guess_chunks

    ds = xr.Dataset({"v": (("y", "x"), np.ones((3000, 2000), "f4"))})
    ds.zio.to_zarr(tmp_path / "s.zarr")
    assert zarr.open_array(tmp_path / "s.zarr" / "v").chunks == _guess_chunks((3000, 2000), 4)


def test_chunks_auto_keeps_trailing_dims_whole_near_target(tmp_path: Path) -> None:
    ds = xr.Dataset({"v": (("t", "y", "x"), np.ones((50, 40, 100), "f8"))})
    with xzarrio.set_options(chunk_target_bytes=100_000):
        ds.zio.to_zarr(tmp_path / "s.zarr", chunks="auto")
    chunks = zarr.open_array(tmp_path / "s.zarr" / "v").chunks
    assert chunks == (3, 40, 100)  # 3 maps of 32 kB each: the most under 100 kB


def test_auto_chunks_agree_along_shared_dims(tmp_path: Path) -> None:
    ds = xr.Dataset(
        {"a": (("t", "x"), np.ones((400, 100), "f8")), "b": (("t", "x"), np.ones((400, 100), "i1"))}
    )
    with xzarrio.set_options(chunk_target_bytes=10_000):
        ds.zio.to_zarr(tmp_path / "s.zarr", chunks="auto")
    reopened = xzarrio.open_zarr(tmp_path / "s.zarr")
    assert reopened.chunks["t"][0] == 12  # the f8 variable's 12 rows of 800 bytes bind both


def test_dask_chunks_kept_when_chunks_is_none(tmp_path: Path, small_chunked: xr.Dataset) -> None:
    small_chunked.zio.to_zarr(tmp_path / "s.zarr")
    assert zarr.open_array(tmp_path / "s.zarr" / "temp").chunks == (5, 15, 40)


# ---------------------------------------------------------------- index coordinates


def test_index_coordinates_are_stored_in_big_chunks_not_in_data_chunks(tmp_path: Path) -> None:
    """xarray reads index coordinates whole on every open: one big chunk, not many small ones."""
    n = 40_000
    ds = xr.Dataset(
        {"temp": (("time", "x"), np.zeros((n, 3), "f4"))},
        coords={"time": pd.date_range("2000-01-01", periods=n), "x": [0.0, 1.0, 2.0]},
    )
    for chunks in ({"time": 200}, "auto", None):
        path = tmp_path / f"c-{chunks if isinstance(chunks, str | None) else 'dict'}.zarr"
        ds.zio.to_zarr(path, chunks=chunks)
        root = dict(zarr.open_group(str(path), mode="r").arrays())
        assert root["time"].chunks == (2**20 // 8,), chunks  # 1 MiB of datetime64
        assert root["x"].chunks == (2**20 // 8,), chunks
        if chunks == {"time": 200}:
            assert root["temp"].chunks == (200, 3)
        # a copy with new chunks does not inherit an old store's coordinate chunks
    old = ds.isel(time=slice(0, 100))
    old.to_zarr(tmp_path / "old.zarr", encoding={"time": {"chunks": (10,)}}, zarr_format=3)
    xzarrio.open_zarr(tmp_path / "old.zarr").zio.to_zarr(tmp_path / "new.zarr", chunks={"time": 50})
    assert zarr.open_array(str(tmp_path / "new.zarr"), path="time", mode="r").chunks == (
        2**20 // 8,
    )


def test_appends_fill_the_index_coordinate_chunk_instead_of_adding_chunks(tmp_path: Path) -> None:
    """A store started with one step and appended to keeps its time coordinate in one chunk."""
    path = tmp_path / "a.zarr"
    step = xr.Dataset(
        {"temp": (("time", "x"), np.zeros((1, 3), "f4"))},
        coords={"time": pd.date_range("2000-01-01", periods=1), "x": [0.0, 1.0, 2.0]},
    )
    step.zio.to_zarr(path, chunks={"time": 1})
    for day in range(1, 30):
        nxt = step.assign_coords(
            time=pd.date_range("2000-01-01", periods=1) + pd.Timedelta(days=day)
        )
        (nxt + day).zio.to_zarr(path, append_dim="time")
    back = xzarrio.open_zarr(path)
    np.testing.assert_array_equal(back.time.values, pd.date_range("2000-01-01", periods=30))
    np.testing.assert_array_equal(back.temp.values[:, 0], np.arange(30, dtype="f4"))
    assert sorted(p.name for p in (path / "time" / "c").iterdir()) == ["0"]
    assert back.temp.encoding["chunks"] == (1, 3)


def test_index_coordinate_chunks_from_encoding_are_kept(tmp_path: Path) -> None:
    ds = xr.Dataset({"a": ("t", np.arange(100.0))}, coords={"t": np.arange(100)})
    ds.zio.to_zarr(tmp_path / "e.zarr", chunks={"t": 10}, encoding={"t": {"chunks": (25,)}})
    assert zarr.open_array(str(tmp_path / "e.zarr"), path="t", mode="r").chunks == (25,)
