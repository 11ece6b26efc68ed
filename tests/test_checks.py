"""Checks of a write's arguments against the object and what the store holds.

A refused write names what was expected and changes nothing on disk; what the checks let
through is stored as xarray stores it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

import xzarrio

from .conftest import series, snapshot, steps

# ---------------------------------------------------------------- arguments


def _bad_attr_nan(ds: xr.Dataset) -> xr.Dataset:
    return ds.assign_attrs(valid_max=float("nan"))


REFUSALS = [
    pytest.param(
        lambda ds: ds,
        {"compressor": "brotli"},
        ValueError,
        r"unknown compressor 'brotli'; expected one of "
        r"\['default', 'blosc-zstd', 'blosc-zstd-bit', 'zstd', 'lz4', 'blosc', 'gzip', 'none', "
        r"'auto'\]",
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


# ---------------------------------------------------------------- against the store


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


def test_new_variable_named_like_a_subgroup_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(np.arange(4.0)).zio.to_zarr(path)
    zarr.open_group(path, mode="r+").create_group("grp").create_array(
        "precious", shape=(2,), dtype="f8"
    )
    before = snapshot(tmp_path)
    with pytest.raises(
        ValueError, match="'grp' is a group in the store; a variable cannot take its name"
    ):
        xr.Dataset({"grp": ("x", [1.0])}).zio.to_zarr(path, mode="a")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------- appends


@pytest.mark.parametrize(
    ("store", "append", "message"),
    [
        pytest.param(
            steps(4),
            steps(3, 4, w=np.ones(3)),
            r"variable 'w' is not in the store",
            id="new-variable-along-append-dim",
        ),
        pytest.param(
            steps(4, u=np.ones(4)),
            steps(3, 4),
            r"\['u'\] .* along 't' but .* missing",
            id="store-variable-left-out",
        ),
        pytest.param(
            steps(4).assign_coords(t=np.arange(4)),
            steps(3, 4),
            r"\['t'\] .* along 't' but .* missing",
            id="coordinate-left-out",
        ),
    ],
)
def test_append_that_would_leave_the_store_unreadable_is_refused(
    tmp_path: Path, store: xr.Dataset, append: xr.Dataset, message: str
) -> None:
    path = tmp_path / "s.zarr"
    store.zio.to_zarr(path)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=message) as info:
        append.zio.to_zarr(path, append_dim="t")
    assert isinstance(info.value, xzarrio.errors.AppendMismatchError)
    assert snapshot(tmp_path) == before
    xzarrio.open_zarr(path).load()


def test_append_datetimes_of_another_resolution(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    days = pd.date_range("2000-01-01", periods=12).values.astype("datetime64[us]")
    ds = xr.Dataset({"v": ("time", np.ones(12))}, coords={"time": days})
    ds.isel(time=slice(0, 7)).zio.to_zarr(path)
    ds.isel(time=slice(7, None)).zio.to_zarr(path, append_dim="time")
    np.testing.assert_array_equal(
        xzarrio.open_zarr(path).time.values, days.astype("datetime64[ns]")
    )


def test_encoding_for_an_existing_variable_in_an_append_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    steps(4).zio.to_zarr(path)
    before = snapshot(tmp_path)
    with pytest.raises(
        ValueError, match=r"variable 'v' already exists in the store; its encoding cannot change"
    ):
        steps(3, 4).zio.to_zarr(path, append_dim="t", encoding={"v": {"dtype": "f4"}})
    assert snapshot(tmp_path) == before


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


# ---------------------------------------------------------------- regions


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


def test_region_auto_is_resolved_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(np.arange(20.0), t=np.arange(100, 120)).zio.to_zarr(path, chunks={"t": 5})
    patch = series(np.zeros(5), t=np.arange(105, 110))
    patch.zio.to_zarr(path, region="auto")
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values[4:11], [4, 0, 0, 0, 0, 0, 10])
    with pytest.raises(ValueError, match="covers stored chunks of 'v' only in part"):
        series(np.zeros(3), t=np.arange(106, 109)).zio.to_zarr(
            path, region="auto", safe_chunks=True
        )
    with pytest.raises(KeyError, match=r"the data's 't' values \[200, 201, 202, 203, 204\] are"):
        series(np.zeros(5), t=np.arange(200, 205)).zio.to_zarr(path, region="auto")


# ---------------------------------------------------------------- encodings


ENCODING_REFUSALS = [
    pytest.param(
        {"v": {"dtype": "int16", "scale_fator": 0.1}},
        r"unknown encoding key 'scale_fator' for variable 'v'",
        id="typo-key",
    ),
    pytest.param({"v": {"bogus": 1}}, r"unknown encoding key 'bogus'", id="unknown-key"),
    pytest.param(
        {"v": {"chunks": (0,)}},
        r"encoding\['chunks'\] for variable 'v' must be 1 integers >= 1 \(-1 is not taken here\), "
        r"got \(0,\)",
        id="zero-chunk",
    ),
    pytest.param(
        {"v": {"chunks": (2, 2)}},
        r"must be 1 integers >= 1 \(-1 is not taken here\), got \(2, 2\)",
        id="chunks-wrong-ndim",
    ),
    pytest.param({"v": "zstd"}, r"encoding for variable 'v' must be a dict", id="not-a-dict"),
]


@pytest.mark.parametrize(("encoding", "message"), ENCODING_REFUSALS)
def test_bad_encoding_is_refused_before_writing(
    tmp_path: Path, encoding: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        steps(6).zio.to_zarr(tmp_path / "a" / "b" / "s.zarr", encoding=encoding)
    assert list(tmp_path.iterdir()) == []


def test_an_int_in_encoding_chunks_means_that_size_on_every_dimension(tmp_path: Path) -> None:
    ds = xr.Dataset({"u": (("y", "x"), np.zeros((6, 5)))})
    ds.zio.to_zarr(tmp_path / "i.zarr", encoding={"u": {"chunks": 2}})
    assert zarr.open_array(str(tmp_path / "i.zarr"), path="u", mode="r").chunks == (2, 2)


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


def test_a_fill_value_outside_the_dtype_is_refused_for_dask_data_too(tmp_path: Path) -> None:
    """Dask data is not read by the checks; a fill value needs no data to be checked."""
    lazy = steps(6).chunk(t=2)
    with pytest.raises(OverflowError, match=r"encoding\['_FillValue'\] .* is 1000, outside int8"):
        lazy.zio.to_zarr(tmp_path / "s.zarr", encoding={"v": {"dtype": "i1", "_FillValue": 1000}})
    assert list(tmp_path.iterdir()) == []


def test_narrow_encodings_that_hold_the_values_are_written(tmp_path: Path) -> None:
    """The dtypes refused where they would lose values are taken where they hold them."""
    time = pd.date_range("2000-01-01", periods=3)
    ds = xr.Dataset(
        {"v": ("time", [1.0, 65504.0, np.inf]), "s": ("time", ["ab", "c", ""])},
        coords={"time": time},
    )
    encoding = {
        "time": {"dtype": "int8", "units": "days since 2000-01-01"},
        "v": {"dtype": "f2"},
        "s": {"dtype": "S2"},
    }
    ds.zio.to_zarr(tmp_path / "n.zarr", encoding=encoding)
    back = xzarrio.open_zarr(tmp_path / "n.zarr").load()
    np.testing.assert_array_equal(back.time.values, time.values)
    np.testing.assert_array_equal(back.v.values, [1.0, 65504.0, np.inf])
    assert back.s.values.tolist() == [b"ab", b"c", b""]


def test_fill_value_attribute_of_a_new_variable_becomes_its_encoding(tmp_path: Path) -> None:
    """As in xarray: only where the store keeps its own fill value is it refused."""
    ds = xr.Dataset({"v": ("x", [1.0, -1.0])})
    ds.v.attrs["_FillValue"] = -1.0
    ds.zio.to_zarr(tmp_path / "f.zarr")
    back = xzarrio.open_zarr(tmp_path / "f.zarr")
    assert back.v.encoding["_FillValue"] == -1.0
    assert np.isnan(back.v.values[1])


def test_append_of_dates_in_the_store_calendar(tmp_path: Path) -> None:
    def days(start: str) -> xr.Dataset:
        time = xr.date_range(start, periods=2, calendar="noleap", use_cftime=True)
        return xr.Dataset({"v": ("time", [1.0, 2.0])}, coords={"time": time})

    days("2001-02-27").zio.to_zarr(tmp_path / "c.zarr")
    days("2001-03-01").zio.to_zarr(tmp_path / "c.zarr", append_dim="time")
    back = xzarrio.open_zarr(tmp_path / "c.zarr")
    assert [str(t) for t in back.time.values] == [
        "2001-02-27 00:00:00", "2001-02-28 00:00:00", "2001-03-01 00:00:00",
        "2001-03-02 00:00:00",
    ]  # fmt: skip


# ---------------------------------------------------------------- what can be stored


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


# --------------------------------------------------------------------------- the mode, as xarray reads it


def test_mode_none_means_what_it_means_in_xarray(tmp_path: Path) -> None:
    """None is "w-" for a new store, "a" with append_dim, "r+" with region."""
    path = tmp_path / "s.zarr"
    one = xr.Dataset({"v": ("t", np.arange(4.0))})
    assert one.zio.to_zarr(path, mode=None).mode == "w-"
    with pytest.raises(FileExistsError):
        one.zio.to_zarr(path, mode=None)
    assert one.zio.to_zarr(path, append_dim="t").mode == "a"
    assert one.zio.to_zarr(path, region={"t": slice(0, 4)}).mode == "r+"
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, np.tile(np.arange(4.0), 2))


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"append_dim": "t"}, r"append_dim needs mode='a' or 'a-', got mode='w-'"),
        ({"region": {"t": slice(0, 4)}}, r"region needs mode='r\+' \(or 'a'\), got mode='w-'"),
    ],
    ids=["append_dim", "region"],
)
def test_an_explicit_mode_w_minus_with_append_dim_or_region_is_refused(
    tmp_path: Path, keywords: dict[str, Any], message: str
) -> None:
    """As xarray refuses it: "w-" makes a store, an append or a region write changes one."""
    path = tmp_path / "s.zarr"
    one = xr.Dataset({"v": ("t", np.arange(4.0))})
    one.zio.to_zarr(path)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=message) as info:
        one.zio.to_zarr(path, mode="w-", **keywords)
    assert isinstance(info.value, xzarrio.errors.InvalidArgumentError)
    assert snapshot(tmp_path) == before
