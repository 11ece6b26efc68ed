"""Writing with .zio.to_zarr: the modes and their provenance, and how the write runs.

Stored chunks, codecs, the checks, the target and staging each have a test file of their own.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr
from dask.callbacks import Callback
from dask.delayed import Delayed

import xzarrio

from .conftest import assert_same_data, staging_left

# ---------------------------------------------------------------- modes and provenance


def test_mode_w_replaces_and_starts_a_new_creation_date(tmp_path: Path, small: xr.Dataset) -> None:
    first = small.zio.to_zarr(tmp_path / "s.zarr")
    second = (small * 2).zio.to_zarr(tmp_path / "s.zarr", mode="w", history="doubled")
    out = xzarrio.open_zarr(tmp_path / "s.zarr")
    np.testing.assert_array_equal(out.temp.values, small.temp.values * 2)
    assert second.provenance.history[0].text.split(" [")[0].endswith("doubled")
    assert second.provenance.creation_date >= first.provenance.creation_date
    assert staging_left(tmp_path) == []


def test_append_keeps_creation_date_and_sets_date_modified(
    tmp_path: Path, small: xr.Dataset
) -> None:
    path = tmp_path / "s.zarr"
    first = small.isel(time=slice(0, 8)).zio.to_zarr(path, chunks={"time": 4})
    report = small.isel(time=slice(8, None)).zio.to_zarr(
        path, append_dim="time", history="four more days"
    )
    assert report.mode == "a"
    out = xzarrio.open_zarr(path)
    assert_same_data(out, small)
    prov = out.zio.provenance
    assert prov.creation_date == first.provenance.creation_date
    assert out.attrs["gmt_timestamp"] == first.provenance.gmt_timestamp
    assert prov.date_modified is not None and prov.date_modified >= prov.creation_date
    assert "append_dim='time'" in prov.history[0].text and "four more days" in prov.history[0].text
    assert len(prov.history) == len(first.provenance.history) + 1
    assert out.attrs["title"] == small.attrs["title"]
    assert report.nbytes == sum(zarr.open_array(path, path=n).nbytes for n in report.variables)


def test_append_keeps_new_global_coordinates_as_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    xr.Dataset({"a": ("t", [1])}, coords={"c": ("x", [0])}).zio.to_zarr(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stale 'coordinates' attribute to complain about
        xr.Dataset({"a": ("t", [2])}, coords={"c": ("x", [0]), "e": ("y", [5])}).zio.to_zarr(
            path, mode="a", append_dim="t"
        )
    out = xzarrio.open_zarr(path)
    assert set(out.coords) == {"c", "e"} and list(out.data_vars) == ["a"]
    assert out.a.values.tolist() == [1, 2]


def test_region_write_keeps_creation_date_and_sets_date_modified(
    tmp_path: Path, small: xr.Dataset
) -> None:
    path = tmp_path / "s.zarr"
    first = small.zio.to_zarr(path, chunks={"time": 4})
    patch = (small.temp.isel(time=slice(4, 8)) * 0).to_dataset().drop_vars(["time", "y", "x"])
    report = patch.zio.to_zarr(path, region={"time": slice(4, 8)}, history="zeroed days 5-8")
    assert report.mode == "r+"
    out = xzarrio.open_zarr(path)
    assert float(abs(out.temp.isel(time=slice(4, 8))).max()) == 0
    xr.testing.assert_identical(
        out.temp.isel(time=slice(0, 4)).load(), small.temp.isel(time=slice(0, 4))
    )
    prov = out.zio.provenance
    assert prov.creation_date == first.provenance.creation_date
    assert prov.date_modified is not None
    assert "region=" in prov.history[0].text
    # the root attributes were re-consolidated: a consolidated open sees the new history
    reopened = xr.open_zarr(path, consolidated=True)
    assert reopened.attrs["history"] == out.attrs["history"]


def consolidations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The groups whose metadata zarr consolidates from now on (while patched)."""
    import xzarrio.writing.transactions as transactions

    consolidated: list[str] = []
    consolidate = transactions.zarr_async.consolidate_metadata

    async def counted(store: Any, path: str = "", **kwargs: Any) -> Any:
        consolidated.append(path)
        return await consolidate(store, path=path, **kwargs)

    monkeypatch.setattr(transactions.zarr_async, "consolidate_metadata", counted)
    return consolidated


def test_region_write_keeps_the_consolidated_metadata_it_does_not_change(
    tmp_path: Path, small: xr.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A region write changes no array's metadata: the root's consolidated copy of
    them still holds, and only the root's attributes (kept beside it) are stamped."""
    path = tmp_path / "s.zarr"
    small.zio.to_zarr(path, chunks={"time": 4})
    small.zio.to_zarr(tmp_path / "g.zarr", chunks={"time": 4}, group="inner")
    consolidated = consolidations(monkeypatch)
    patch = (small[["temp"]].isel(time=slice(4, 8)) * 0).drop_vars(["time", "y", "x"])
    patch.zio.to_zarr(path, region={"time": slice(4, 8)})
    assert consolidated == []
    reopened = xr.open_zarr(path, consolidated=True)
    assert reopened.attrs["history"] == xzarrio.open_zarr(path).attrs["history"]
    assert "region=" in reopened.attrs["history"].splitlines()[0]
    xr.testing.assert_identical(
        reopened.temp.isel(time=slice(0, 4)), small.temp.isel(time=slice(0, 4))
    )
    assert float(abs(reopened.temp.isel(time=slice(4, 8))).max()) == 0
    # a nested group's attributes are in the root's consolidated metadata: consolidated
    patch.zio.to_zarr(tmp_path / "g.zarr", region={"time": slice(4, 8)}, group="inner")
    assert consolidated == ["", "inner"]
    inner = xr.open_zarr(tmp_path / "g.zarr", group="inner", consolidated=True)
    assert "region=" in inner.attrs["history"].splitlines()[0]


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_an_append_leaves_the_consolidated_copy_zarr_would_make(
    tmp_path: Path, small: xr.Dataset, zarr_format: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stamp of an append makes the root's consolidated copy of the arrays it holds
    (zarr format 3), or has zarr read them again: either way, what zarr's own
    consolidation makes of the store as it is left."""
    path = tmp_path / "s.zarr"
    small.isel(time=slice(0, 8)).zio.to_zarr(path, chunks={"time": 4}, zarr_format=zarr_format)
    consolidated = consolidations(monkeypatch)
    small.isel(time=slice(8, 12)).zio.to_zarr(path, append_dim="time")
    monkeypatch.undo()
    assert consolidated == ([] if zarr_format == 3 else [""])
    left = zarr.open_group(path, mode="r", use_consolidated=True).metadata.to_dict()
    zarr.consolidate_metadata(path, zarr_format=zarr_format)  # type: ignore[arg-type]
    remade = zarr.open_group(path, mode="r", use_consolidated=True).metadata.to_dict()
    assert left == remade
    assert_same_data(xr.open_zarr(path, consolidated=True), small)


def test_mode_r_plus_overwrites_existing_variables(tmp_path: Path, small: xr.Dataset) -> None:
    path = tmp_path / "s.zarr"
    small.zio.to_zarr(path)
    (small[["temp"]] + 1).zio.to_zarr(path, mode="r+")
    np.testing.assert_allclose(xzarrio.open_zarr(path).temp.values, small.temp.values + 1)


def test_mode_a_without_append_dim_adds_a_variable(tmp_path: Path, small: xr.Dataset) -> None:
    path = tmp_path / "s.zarr"
    small.zio.to_zarr(path)
    small.temp.rename("temp2").zio.to_zarr(path, mode="a")
    out = xzarrio.open_zarr(path)
    assert {"temp", "temp2", "mask"} <= set(out.data_vars)
    assert out.zio.provenance.date_modified is not None


def test_read_lazily_and_write_back_to_the_same_path(tmp_path: Path, small: xr.Dataset) -> None:
    path = tmp_path / "s.zarr"
    small.zio.to_zarr(path, chunks={"time": 3})
    lazy = xzarrio.open_zarr(path)
    (lazy + 1).assign_attrs(lazy.attrs).zio.to_zarr(path, mode="w", history="plus one")
    out = xzarrio.open_zarr(path)
    np.testing.assert_allclose(out.temp.values, small.temp.values + 1)
    assert out.zio.provenance.history[0].text.split(" [")[0].endswith("plus one")
    assert staging_left(tmp_path) == []


def test_caller_object_is_not_mutated(tmp_path: Path, small_chunked: xr.Dataset) -> None:
    attrs = dict(small_chunked.attrs)
    encodings = {k: dict(v.encoding) for k, v in small_chunked.variables.items()}
    chunks = small_chunked.chunks
    small_chunked.zio.to_zarr(tmp_path / "s.zarr", chunks={"time": 4}, history="x")
    assert small_chunked.attrs == attrs
    assert {k: dict(v.encoding) for k, v in small_chunked.variables.items()} == encodings
    assert small_chunked.chunks == chunks


def test_dataarray_write_and_history_from_its_store(tmp_path: Path, small: xr.Dataset) -> None:
    small.zio.to_zarr(tmp_path / "a.zarr", history="original")
    temp = xzarrio.open_zarr(tmp_path / "a.zarr").temp
    report = temp.zio.to_zarr(tmp_path / "b.zarr", history="just temp")
    assert report.variables[0] == "temp"
    texts = [e.text for e in report.provenance.history]
    assert "just temp" in texts[0] and "original" in texts[1]


# ---------------------------------------------------------------- execution


def test_compute_false_returns_delayed_that_writes_and_reports(
    tmp_path: Path, small_chunked: xr.Dataset
) -> None:
    delayed = small_chunked.zio.to_zarr(tmp_path / "s.zarr", compute=False, history="later")
    assert isinstance(delayed, Delayed)
    # the template is there at once, as in xarray; its dask data is not (tests/test_template.py)
    assert np.isnan(xzarrio.open_zarr(tmp_path / "s.zarr").temp.values).all()
    report = delayed.compute()
    assert isinstance(report, xzarrio.WriteReport)
    assert report.provenance.history[0].text.split(" [")[0].endswith("later")
    assert_same_data(report.open(), small_chunked.load())


def test_compute_false_still_validates_now(tmp_path: Path, small: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="unknown compressor"):
        small.zio.to_zarr(tmp_path / "s.zarr", compute=False, compressor="nope")


@pytest.mark.parametrize("scheduler", ["threads", "synchronous", "processes"])
def test_schedulers(tmp_path: Path, small_chunked: xr.Dataset, scheduler: str) -> None:
    small_chunked.zio.to_zarr(tmp_path / "s.zarr", scheduler=scheduler, num_workers=2)
    assert_same_data(xzarrio.open_zarr(tmp_path / "s.zarr"), small_chunked.load())


def test_distributed_client_as_scheduler(tmp_path: Path, small_chunked: xr.Dataset) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            small_chunked.zio.to_zarr(tmp_path / "s.zarr", scheduler=client)
    assert_same_data(xzarrio.open_zarr(tmp_path / "s.zarr"), small_chunked.load())


def test_progress_bar_goes_to_stderr(
    tmp_path: Path, small_chunked: xr.Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    small_chunked.zio.to_zarr(tmp_path / "s.zarr", progress=True)
    captured = capsys.readouterr()
    assert "100%" in captured.err and "Completed" in captured.err
    assert captured.out == ""


def test_dataarray_whose_source_store_is_gone_still_writes(
    tmp_path: Path, small: xr.Dataset
) -> None:
    small.zio.to_zarr(tmp_path / "a.zarr")
    temp = xzarrio.open_zarr(tmp_path / "a.zarr").temp.load()
    shutil.rmtree(tmp_path / "a.zarr")
    report = temp.zio.to_zarr(tmp_path / "b.zarr", history="rescued")
    assert len(report.provenance.history) == 1


def _tasks_run_by_a_write(ds: xr.Dataset, path: Path, **kwargs: Any) -> int:
    from dask.callbacks import Callback

    started: list[str] = []
    with Callback(start_state=lambda dsk, state: started.extend(map(str, state["ready"]))):
        ds.zio.to_zarr(path, **kwargs)
    return len(started)


def test_small_writes_in_memory_are_written_at_once_and_a_large_one_by_tasks(
    tmp_path: Path,
) -> None:
    from xzarrio.writing.plan import AT_ONCE_BYTES

    small = xr.Dataset({f"v{i}": (("y", "x"), np.random.rand(100, 100)) for i in range(5)})
    assert small.nbytes <= AT_ONCE_BYTES
    assert (
        _tasks_run_by_a_write(small, tmp_path / "small.zarr", chunks={"y": 25}) <= 1
    )  # no chunk write a task
    assert_same_data(xzarrio.open_zarr(tmp_path / "small.zarr"), small)
    more = small.isel(y=slice(0, 10))
    assert _tasks_run_by_a_write(more, tmp_path / "small.zarr", append_dim="y") <= 1
    assert_same_data(xzarrio.open_zarr(tmp_path / "small.zarr"), xr.concat([small, more], "y"))
    assert xzarrio.verify(tmp_path / "small.zarr").ok
    rows = AT_ONCE_BYTES // (8 * 100) + 100
    large = xr.Dataset({"v": (("y", "x"), np.random.rand(rows, 100))})
    assert (
        _tasks_run_by_a_write(large, tmp_path / "large.zarr", chunks={"y": 25}) >= rows // 25
    )  # one a chunk
    assert_same_data(xzarrio.open_zarr(tmp_path / "large.zarr"), large)


def test_small_data_in_memory_are_written_without_a_dask_compute(
    tmp_path: Path, small: xr.Dataset
) -> None:
    # xarray writes them in its own call: no graph of one task to build and run
    started: list[int] = []
    path = tmp_path / "small.zarr"
    with Callback(start=lambda dsk: started.append(len(dsk))):
        small.isel(time=slice(0, 8)).zio.to_zarr(path)
        small.isel(time=slice(8, 12)).zio.to_zarr(path, append_dim="time")
        patch = small[["temp"]].isel(time=slice(0, 2)).drop_vars(["y", "x"]) + 1
        patch.zio.to_zarr(path, region={"time": slice(0, 2)})
    assert started == []
    expected = small.copy(deep=True)
    expected["temp"][:2] += 1
    assert_same_data(xr.open_zarr(path), expected)
    with Callback(start=lambda dsk: started.append(len(dsk))):
        small.chunk({"time": 6}).zio.to_zarr(tmp_path / "dask.zarr")
    assert started, "dask data are written by dask tasks"
