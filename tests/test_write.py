"""Writing with .zio.to_zarr: chunks, compressors, modes, atomicity, refusals."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da
import numcodecs
import numpy as np
import pytest
import xarray as xr
import zarr
from dask.delayed import Delayed

import xzarrio

from .conftest import assert_same_data, disk_bytes, snapshot, staging_left

# ---------------------------------------------------------------- modes and provenance


def test_mode_w_minus_refuses_existing_store(tmp_path: Path, small: xr.Dataset) -> None:
    small.zio.to_zarr(tmp_path / "s.zarr")
    before = snapshot(tmp_path)
    with pytest.raises(
        FileExistsError, match=r"a store already exists at .*s\.zarr'; use mode='w'"
    ):
        small.zio.to_zarr(tmp_path / "s.zarr")
    assert snapshot(tmp_path) == before


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


# ---------------------------------------------------------------- atomicity


class Boom(RuntimeError):
    pass


def _failing(ds: xr.Dataset, exc: BaseException) -> xr.Dataset:
    def explode(block: np.ndarray) -> np.ndarray:
        if block.size and block.flat[0] > 10_000:
            raise exc
        time.sleep(0.02)  # keep other tasks in flight when one fails
        return block

    data = da.map_blocks(explode, da.arange(20_000.0, chunks=1000), dtype="f8")
    return xr.Dataset({"v": ("x", data)})


@pytest.mark.parametrize(
    "exc", [Boom("a task failed"), KeyboardInterrupt()], ids=["exception", "keyboard-interrupt"]
)
def test_failing_task_during_mode_w_leaves_old_store_identical(
    tmp_path: Path, small: xr.Dataset, exc: BaseException
) -> None:
    path = tmp_path / "s.zarr"
    small.zio.to_zarr(path)
    before = snapshot(tmp_path)
    with pytest.raises(type(exc)):
        _failing(small, exc).zio.to_zarr(path, mode="w", num_workers=2)
    assert snapshot(tmp_path) == before
    assert staging_left(tmp_path) == []
    assert_same_data(xzarrio.open_zarr(path), small)


def test_failing_new_store_leaves_nothing(tmp_path: Path, small: xr.Dataset) -> None:
    with pytest.raises(Boom):
        _failing(small, Boom("x")).zio.to_zarr(tmp_path / "new.zarr")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- refusals


def _bad_attr_nan(ds: xr.Dataset) -> xr.Dataset:
    return ds.assign_attrs(valid_max=float("nan"))


REFUSALS = [
    pytest.param(
        lambda ds: ds,
        {"compressor": "brotli"},
        ValueError,
        r"unknown compressor 'brotli'; expected one of \['zstd', 'lz4', 'blosc', 'gzip', 'none'\]",
        id="unknown-compressor",
    ),
    pytest.param(
        lambda ds: ds,
        {"compressor": 42},
        TypeError,
        r"compressor must be a name .* got 42",
        id="compressor-not-a-codec",
    ),
    pytest.param(
        lambda ds: ds,
        {"chunks": {"depth": 3}},
        ValueError,
        r"chunks names dimension 'depth', which the object does not have",
        id="unknown-chunk-dim",
    ),
    pytest.param(
        lambda ds: ds,
        {"chunks": {"time": 0}},
        ValueError,
        r"chunk size for dimension 'time' must be an integer >= 1, -1 .*, got 0",
        id="zero-chunk",
    ),
    pytest.param(
        lambda ds: ds,
        {"chunks": {"time": -2}},
        ValueError,
        r"-1 \(the whole dimension\) or None \(its current chunks\), got -2",
        id="negative-chunk",
    ),
    pytest.param(
        lambda ds: ds,
        {"chunks": [3, 4]},
        ValueError,
        r"chunks=\[3, 4\] is not understood",
        id="chunks-list",
    ),
    pytest.param(
        lambda ds: ds.assign_attrs(when=dt.datetime(2020, 1, 1)),
        {},
        TypeError,
        r"attribute 'when' of the Dataset is .* which cannot be stored as JSON",
        id="unserialisable-attr",
    ),
    pytest.param(
        _bad_attr_nan,
        {},
        ValueError,
        r"attribute 'valid_max' of the Dataset is nan: zarr attributes are JSON, which has no NaN",
        id="nan-attr",
    ),
    pytest.param(
        lambda ds: ds.assign(temp=ds.temp.assign_attrs(scale=float("inf"))),
        {},
        ValueError,
        r"attribute 'scale' of variable 'temp' is inf",
        id="inf-var-attr",
    ),
    pytest.param(
        lambda ds: ds,
        {"num_workers": 0},
        ValueError,
        r"num_workers must be an integer >= 1 or None, got 0",
        id="zero-workers",
    ),
    pytest.param(
        lambda ds: ds,
        {"scheduler": "gpu"},
        ValueError,
        r"unknown scheduler 'gpu'; expected one of \['threads', 'synchronous', 'processes'\]",
        id="unknown-scheduler",
    ),
    pytest.param(
        lambda ds: ds,
        {"mode": "x"},
        ValueError,
        r"unknown mode 'x'; expected one of \['w-', 'w', 'a', 'a-', 'r\+'\]",
        id="unknown-mode",
    ),
    pytest.param(
        lambda ds: ds,
        {"zarr_format": 4},
        ValueError,
        r"zarr_format must be 2, 3 or None, got 4",
        id="bad-format",
    ),
    pytest.param(
        lambda ds: ds,
        {"encoding": {"nope": {}}},
        ValueError,
        r"encoding names variables \['nope'\]",
        id="encoding-unknown-var",
    ),
    pytest.param(
        lambda ds: ds.rename({"temp": 5}),
        {},
        ValueError,
        r"names must be strings .* got 5 of type int",
        id="non-string-name",
    ),
    pytest.param(
        lambda ds: ds.temp.rename(None),
        {},
        ValueError,
        r"cannot write an unnamed DataArray.*da.rename\('temperature'\)",
        id="unnamed-dataarray",
    ),
    pytest.param(
        lambda ds: ds,
        {"append_dim": "time", "region": {"time": slice(0, 2)}},
        ValueError,
        r"append_dim and region cannot be used together",
        id="region-and-append-dim",
    ),
]


@pytest.mark.parametrize(("make", "kwargs", "error", "message"), REFUSALS)
def test_refused_new_store_changes_nothing_on_disk(
    tmp_path: Path,
    small: xr.Dataset,
    make: Callable[[xr.Dataset], xr.Dataset | xr.DataArray],
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    (tmp_path / "keep.txt").write_text("unrelated")
    before = snapshot(tmp_path)
    with pytest.raises(error, match=message) as info:
        make(small).zio.to_zarr(tmp_path / "new.zarr", **kwargs)
    assert isinstance(info.value, xzarrio.errors.XzarrioError)
    assert snapshot(tmp_path) == before


EXISTING_REFUSALS = [
    pytest.param(
        lambda ds: ds.isel(time=slice(0, 2)).rename({"x": "lon"}),
        {"append_dim": "time"},
        r"cannot append variable 'temp': its dimensions \('time', 'y', 'lon'\) differ",
        id="append-other-dims",
    ),
    pytest.param(
        lambda ds: (
            ds.isel(time=slice(0, 2)).astype({"temp": "f8"})
            if False
            else ds.isel(time=slice(0, 2)).assign(temp=ds.temp.isel(time=slice(0, 2)).astype("f8"))
        ),
        {"append_dim": "time"},
        r"cannot append variable 'temp': its dtype float64 differs from the store's float32",
        id="append-other-dtype",
    ),
    pytest.param(
        lambda ds: ds.isel(time=slice(0, 2), y=slice(0, 10)),
        {"append_dim": "time"},
        r"dimension 'y' has size 10, the store's has 30",
        id="append-other-sizes",
    ),
    pytest.param(
        lambda ds: ds.isel(time=slice(0, 2)),
        {"append_dim": "depth"},
        r"cannot append along 'depth': the data has no such dimension",
        id="append-unknown-dim",
    ),
    pytest.param(
        lambda ds: ds[["temp"]].isel(time=slice(0, 2)).drop_vars(["time", "y", "x"]),
        {"region": {"time": slice(11, 13)}},
        r"region\['time'\] = slice\(11, 13, None\) is outside the store's dimension of size 12",
        id="region-out-of-bounds",
    ),
    pytest.param(
        lambda ds: ds[["temp"]].isel(time=slice(0, 2)).drop_vars(["time", "y", "x"]),
        {"region": {"depth": slice(0, 2)}},
        r"region names dimension 'depth', which the store does not have",
        id="region-unknown-dim",
    ),
    pytest.param(
        lambda ds: ds[["temp"]].isel(time=slice(0, 3)).drop_vars(["time", "y", "x"]),
        {"region": {"time": slice(0, 2)}},
        r"covers 2 elements but the data has 3",
        id="region-size-mismatch",
    ),
    pytest.param(
        lambda ds: ds.rename({"temp": "other"})[["other"]],
        {"mode": "r+"},
        r"mode='r\+' overwrites existing variables only; \['other'\]",
        id="r-plus-new-variable",
    ),
    pytest.param(
        lambda ds: ds,
        {"mode": "a", "append_dim": "time", "zarr_format": 2},
        r"zarr_format=2 but the store is zarr format 3",
        id="append-other-format",
    ),
]


@pytest.mark.parametrize(("make", "kwargs", "message"), EXISTING_REFUSALS)
def test_refused_write_to_existing_store_changes_nothing(
    tmp_path: Path,
    small: xr.Dataset,
    make: Callable[[xr.Dataset], xr.Dataset],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    path = tmp_path / "s.zarr"
    small.zio.to_zarr(path)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=message) as info:
        make(small).zio.to_zarr(path, **kwargs)
    assert isinstance(info.value, xzarrio.errors.XzarrioError)
    assert snapshot(tmp_path) == before


def test_refuses_to_replace_a_file_or_a_non_zarr_directory(
    tmp_path: Path, small: xr.Dataset
) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("precious")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"is a file, not a zarr store; refusing to write over it"):
        small.zio.to_zarr(tmp_path / "file", mode="w")
    with pytest.raises(
        ValueError, match=r"is a directory that holds no zarr store; refusing to replace it"
    ):
        small.zio.to_zarr(tmp_path / "folder", mode="w")
    assert snapshot(tmp_path) == before


def test_region_write_to_missing_store_is_file_not_found(tmp_path: Path, small: xr.Dataset) -> None:
    # an append there makes the store, as in xarray (tests/test_dropin.py)
    with pytest.raises(FileNotFoundError, match=r"no zarr store at .*missing\.zarr"):
        small.zio.to_zarr(tmp_path / "missing.zarr", region={"time": slice(0, 2)})
    assert list(tmp_path.iterdir()) == []


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


def test_report_numbers_match_the_disk(tmp_path: Path, small: xr.Dataset) -> None:
    report = small.zio.to_zarr(tmp_path / "s.zarr")
    assert report.nbytes_stored == disk_bytes(tmp_path / "s.zarr")
    assert report.nbytes == small.nbytes == report.nbytes_written
    assert report.ratio == pytest.approx(report.nbytes / report.nbytes_stored)
    assert report.throughput == pytest.approx(report.nbytes_written / report.seconds)
    assert report.store == str(tmp_path / "s.zarr")
    assert set(report.variables) == set(small.variables)
    text = repr(report)
    assert "kiB" in text and "ratio" in text and "throughput" in text


@pytest.mark.parametrize("mode", ["w-", "w"])
def test_write_into_an_existing_empty_directory(
    tmp_path: Path, small: xr.Dataset, mode: str
) -> None:
    (tmp_path / "s.zarr").mkdir()
    small.zio.to_zarr(tmp_path / "s.zarr", mode=mode)
    assert_same_data(xzarrio.open_zarr(tmp_path / "s.zarr"), small)
    assert staging_left(tmp_path) == []


def test_store_appearing_during_a_w_minus_write_is_refused(
    tmp_path: Path, small: xr.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer creates the store while ours is being written: ours must not replace it."""
    from xzarrio.writing import execution

    path = tmp_path / "s.zarr"
    original = execution._run_locally

    def compute_then_race(*args: Any) -> None:
        original(*args)
        monkeypatch.setattr(execution, "_run_locally", original)
        (small * 0).zio.to_zarr(path)  # the other writer wins the race

    monkeypatch.setattr(execution, "_run_locally", compute_then_race)
    with pytest.raises(
        FileExistsError, match=r"a store appeared at .*s\.zarr' while this one was written"
    ) as info:
        small.zio.to_zarr(path)
    assert isinstance(info.value, xzarrio.errors.StoreExistsError)
    assert float(xzarrio.open_zarr(path).temp.max()) == 0  # the other writer's store is intact
    assert staging_left(tmp_path) == []


def test_dataarray_whose_source_store_is_gone_still_writes(
    tmp_path: Path, small: xr.Dataset
) -> None:
    small.zio.to_zarr(tmp_path / "a.zarr")
    temp = xzarrio.open_zarr(tmp_path / "a.zarr").temp.load()
    shutil.rmtree(tmp_path / "a.zarr")
    report = temp.zio.to_zarr(tmp_path / "b.zarr", history="rescued")
    assert len(report.provenance.history) == 1


# --------------------------------------------------------------------------- index coordinates


def test_an_int_in_encoding_chunks_means_that_size_on_every_dimension(tmp_path: Path) -> None:
    ds = xr.Dataset({"u": (("y", "x"), np.zeros((6, 5)))})
    ds.zio.to_zarr(tmp_path / "i.zarr", encoding={"u": {"chunks": 2}})
    assert zarr.open_array(str(tmp_path / "i.zarr"), path="u", mode="r").chunks == (2, 2)


def _indexed_store(tmp_path: Path, n: int) -> tuple[xr.Dataset, Path]:
    """A store of zeros on (time, x), time an integer index, stored in chunks of 100 steps."""
    ds = xr.Dataset(
        {"temp": (("time", "x"), np.zeros((n, 3), "f4"))},
        coords={"time": np.arange(n), "x": [0.0, 1.0, 2.0]},
    )
    path = tmp_path / "r.zarr"
    ds.zio.to_zarr(path, chunks={"time": 100})
    return ds, path


def test_region_write_of_unchanged_index_leaves_the_coordinate_alone(tmp_path: Path) -> None:
    """A region write carrying the store's own index values does not rewrite the coordinate."""
    n = 400
    ds, path = _indexed_store(tmp_path, n)
    assert zarr.open_array(str(path), path="time", mode="r").chunks == (2**20 // 8,)
    part = (ds.isel(time=slice(100, 200)) + 1).drop_vars("x")
    part.zio.to_zarr(path, region={"time": slice(100, 200)})  # aligned to temp's chunks
    part.zio.to_zarr(path, region="auto")
    back = xzarrio.open_zarr(path).load()
    assert (back.temp.isel(time=slice(100, 200)) == 1).all()
    assert (back.temp.isel(time=slice(0, 100)) == 0).all()
    np.testing.assert_array_equal(back.time.values, np.arange(n))


def test_region_write_keeps_the_store_index_and_warns_when_the_data_disagrees(
    tmp_path: Path,
) -> None:
    """As xarray: a region write never changes an index; differing values are worth a warning."""
    n = 400
    ds, path = _indexed_store(tmp_path, n)
    part = (ds.isel(time=slice(100, 200)) + 1).assign_coords(time=np.arange(1100, 1200))
    with pytest.warns(UserWarning, match=r"the data's 'time' values differ from the store's"):
        part.drop_vars("x").zio.to_zarr(path, region={"time": slice(100, 200)})
    back = xzarrio.open_zarr(path)
    np.testing.assert_array_equal(back.time.values, np.arange(n))
    assert (back.temp.isel(time=slice(100, 200)) == 1).all()


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("missing", [np.nan, None], ids=["nan", "none"])
def test_strings_with_missing_values_are_stored_as_xarray_stores_them(
    tmp_path: Path, zarr_format: int, missing: object
) -> None:
    ds = xr.Dataset({"s": ("x", np.array(["a", missing, "c"], dtype=object))})
    ds.to_zarr(tmp_path / "xr.zarr", zarr_format=zarr_format)
    ds.zio.to_zarr(tmp_path / "zio.zarr", zarr_format=zarr_format)
    ours = xzarrio.open_zarr(tmp_path / "zio.zarr").load().drop_attrs(deep=False)
    xr.testing.assert_identical(ours, xr.open_zarr(tmp_path / "xr.zarr").load())
    assert list(ours.s.values) == ["a", "", "c"]  # what xarray makes of a missing string


def test_append_widens_narrower_fixed_width_strings(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    first = xr.Dataset({"s": ("t", np.array(["abc", "def"]))}, coords={"t": [0, 1]})
    first.zio.to_zarr(path)
    xr.Dataset({"s": ("t", np.array(["g", "hi"]))}, coords={"t": [2, 3]}).zio.to_zarr(
        path, append_dim="t"
    )
    back = xzarrio.open_zarr(path)
    assert back.s.dtype == np.dtype("<U3")
    assert list(back.s.values) == ["abc", "def", "g", "hi"]


def test_append_of_times_the_store_units_hold_reads_back_right(tmp_path: Path) -> None:
    path = tmp_path / "t.zarr"
    days = np.datetime64("2000-01-01", "ns") + np.arange(4) * np.timedelta64(1, "D")
    ds = xr.Dataset({"v": ("time", np.arange(4.0))}, coords={"time": days})
    ds.isel(time=slice(0, 2)).zio.to_zarr(path)
    later = ds.isel(time=slice(2, 4))
    later["time"].encoding.update(units="days since 2000-01-01 00:00:00", calendar="standard")
    later.zio.to_zarr(path, append_dim="time")
    np.testing.assert_array_equal(xzarrio.open_zarr(path).time.values, days)


@pytest.mark.parametrize("one", ["zstd", numcodecs.Zstd(level=1)], ids=["name", "codec"])
def test_one_compressor_in_encoding_is_a_list_of_one(tmp_path: Path, one: object) -> None:
    ds = xr.Dataset({"v": ("x", np.arange(8.0))})
    ds.zio.to_zarr(tmp_path / "c.zarr", encoding={"v": {"compressors": one}})
    codecs = xzarrio.open_zarr(tmp_path / "c.zarr").v.encoding["compressors"]
    assert [type(c).__name__ for c in codecs] == ["ZstdCodec"]


def test_integer_encodings_that_fit_are_written(tmp_path: Path) -> None:
    values = np.array([0.0, 550.0, np.nan, 1100.0])
    ds = xr.Dataset({"packed": ("x", values), "filled": ("x", values / 10)})
    encoding = {
        "packed": {"dtype": "i1", "scale_factor": 10.0, "add_offset": 0.0, "_FillValue": -128},
        "filled": {"dtype": "i2", "_FillValue": -1},
    }
    ds.zio.to_zarr(tmp_path / "i.zarr", encoding=encoding)
    back = xzarrio.open_zarr(tmp_path / "i.zarr").load()
    np.testing.assert_allclose(back.packed.values, values)
    np.testing.assert_allclose(back.filled.values, values / 10)
