"""Lazy reopening, remembering the store, and the storage report."""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr

import xzarrio

from .conftest import CountingScheduler, assert_same_data, disk_bytes


@pytest.fixture
def stored(tmp_path: Path, small: xr.Dataset) -> Path:
    path = tmp_path / "s.zarr"
    small.zio.to_zarr(path, chunks={"time": 5, "y": 10}, history="for reopening")
    return path


def test_reopen_computes_nothing(stored: Path, counting_scheduler: CountingScheduler) -> None:
    with dask.config.set(scheduler=counting_scheduler):
        ds = xzarrio.open_zarr(stored)
        again = ds.temp.zio.reopen()
        _ = ds.zio.provenance, ds.temp.zio.info(), repr(ds)
    assert counting_scheduler.computes == 0
    assert isinstance(ds.temp.data, dask.array.Array) and isinstance(
        again.temp.data, dask.array.Array
    )
    # and the counter does count: one compute is one
    with dask.config.set(scheduler=counting_scheduler):
        ds.temp.mean().compute()
    assert counting_scheduler.computes == 1


def test_one_dask_chunk_per_stored_chunk(stored: Path) -> None:
    ds = xzarrio.open_zarr(stored)
    assert ds.temp.chunks == ((5, 5, 2), (10, 10, 10), (40,))
    assert xzarrio.open_zarr(stored, chunks={"time": 10}).temp.chunks[0] == (10, 2)


def test_dataset_and_variables_remember_their_store(stored: Path, small: xr.Dataset) -> None:
    ds = xzarrio.open_zarr(stored)
    assert ds.encoding["source"] == str(stored)
    assert all(v.encoding["source"] == str(stored) for v in ds.variables.values())
    temp = ds["temp"]
    assert_same_data(temp.zio.reopen(), small)
    assert temp.zio.provenance.history[0].text.split(" [")[0].endswith("for reopening")
    assert temp.zio.info()["temp"].shape == (12, 30, 40)
    assert ds[["temp"]].zio.reopen().encoding["source"] == str(stored)


def test_relative_and_pathlike_stores(stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(stored.parent)
    assert xzarrio.open_zarr("s.zarr").encoding["source"] == str(stored)


def test_objects_from_no_store_say_so(small: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="cannot reopen: this Dataset was not read from a store"):
        small.zio.reopen()
    with pytest.raises(
        ValueError, match="cannot report storage: this DataArray was not read from a store"
    ):
        small.temp.zio.info()
    assert small.zio.provenance.history[0].text == "made by hand"
    assert small.temp.zio.provenance.history == ()


def test_bad_chunks_argument(stored: Path) -> None:
    with pytest.raises(ValueError, match=r"chunks='stored-ish' is not understood"):
        xzarrio.open_zarr(stored, chunks="stored-ish")


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["v2", "v3"])
def test_storage_report_matches_the_store(
    tmp_path: Path, small: xr.Dataset, zarr_format: int
) -> None:
    path = tmp_path / "s.zarr"
    small.zio.to_zarr(path, chunks={"time": 5}, zarr_format=zarr_format)
    info = xzarrio.info(path)
    assert info.zarr_format == zarr_format
    assert info.nbytes_stored == disk_bytes(path)
    temp = info["temp"]
    assert (temp.dtype, temp.shape, temp.chunks) == ("float32", (12, 30, 40), (5, 30, 40))
    assert temp.codecs == ("zstd(3) + crc32c" if zarr_format == 3 else "zstd(3)")
    assert temp.nbytes == small.temp.nbytes
    assert temp.nbytes_stored == disk_bytes(path / "temp")
    assert (temp.chunks_initialized, temp.chunks_total) == (3, 3)
    assert temp.ratio == pytest.approx(temp.nbytes / temp.nbytes_stored)
    assert info.nbytes == sum(small[name].nbytes for name in small.variables)
    text = repr(info)
    assert (
        "temp" in text and "zstd(3)" in text and "3/3" in text and "kiB" in text and "total" in text
    )
    html = info._repr_html_()
    assert html.startswith("<div>") and "<table>" in html and "<td>temp</td>" in html
    with pytest.raises(KeyError, match="no variable 'nope'"):
        info["nope"]


def test_storage_report_counts_uninitialised_chunks(tmp_path: Path) -> None:
    ds = xr.Dataset(
        {
            "z": (("y", "x"), np.zeros((400, 30), "f4")),
            "missing": (("y", "x"), np.full((400, 30), np.nan, "f4")),
        }
    )
    ds.zio.to_zarr(tmp_path / "s.zarr", chunks={"y": 100})
    info = xzarrio.info(tmp_path / "s.zarr")
    # the fill value is NaN: zero chunks are real chunks that compress to almost nothing,
    # all-NaN chunks equal the fill value and are not written at all
    assert (info["z"].chunks_initialized, info["z"].chunks_total) == (4, 4)
    assert info["z"].nbytes_stored < 2_000
    assert (info["missing"].chunks_initialized, info["missing"].chunks_total) == (0, 4)
    assert "0/4" in repr(info)
