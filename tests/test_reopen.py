"""Lazy reopening, and remembering the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
import xarray as xr

import xzarrio
from xzarrio.errors import StoreChangedError

from .conftest import CountingScheduler, assert_same_data


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


# ------------------------------------------------ a store changed after it was opened


def _two_variables(path: Path) -> xr.Dataset:
    ds = xr.Dataset(
        {"a": ("t", np.arange(8.0)), "b": ("t", np.arange(8.0) * 10)}, coords={"t": np.arange(8)}
    )
    ds.zio.to_zarr(path, chunks={"t": 4})
    return ds


@pytest.mark.parametrize("chunks", ["stored", None], ids=["dask", "chunks=None"])
def test_a_reader_of_a_replaced_store_raises_store_changed(tmp_path: Path, chunks: Any) -> None:
    path = tmp_path / "s.zarr"
    _two_variables(path)
    opened = xzarrio.open_zarr(path, chunks=chunks)
    xr.Dataset({"a": ("t", np.full(8, 5.0, "f4"))}).zio.to_zarr(path, mode="w", chunks={"t": 3})
    with pytest.raises(StoreChangedError, match=r"open it again \(xzarrio.open_zarr"):
        opened.a.values  # noqa: B018
    np.testing.assert_array_equal(xzarrio.open_zarr(path).a.values, np.full(8, 5.0))


def test_a_region_write_changes_what_it_wrote_for_readers_and_nothing_else(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.zarr"
    ds = _two_variables(path)
    opened = xzarrio.open_zarr(path)
    ds[["a"]].drop_vars("t").isel(t=slice(0, 4)).zio.to_zarr(path, region={"t": slice(4, 8)})
    np.testing.assert_array_equal(opened.b.values, ds.b.values)  # not written: reads on
    with pytest.raises(StoreChangedError, match="'a'"):
        opened.a.values  # noqa: B018


def test_a_reader_during_a_write_raises_store_changed(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    _two_variables(path)
    opened = xzarrio.open_zarr(path)
    journal_of_a_write = tmp_path / ".s.zarr.xzarrio-journal" / "123-abc"
    journal_of_a_write.mkdir(parents=True)
    np.testing.assert_array_equal(opened.a.values, np.arange(8.0))  # no header: no write
    (journal_of_a_write / "journal.json").write_text("{}")
    with pytest.raises(StoreChangedError, match="is being written while this Dataset reads it"):
        opened.a.values  # noqa: B018


def test_a_store_of_other_writers_reads_as_before(tmp_path: Path) -> None:
    """No generation records: only journals are seen."""
    path = tmp_path / "s.zarr"
    xr.Dataset({"a": ("t", np.arange(4.0))}).to_zarr(path)
    opened = xzarrio.open_zarr(path)
    np.testing.assert_array_equal(opened.a.values, np.arange(4.0))
