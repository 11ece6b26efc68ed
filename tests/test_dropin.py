"""The keywords of ``xarray.Dataset.to_zarr`` that ``.zio.to_zarr`` takes, meaning what xarray means."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

import xzarrio


def _series(n: int = 8, start: int = 0) -> xr.Dataset:
    return xr.Dataset(
        {"v": ("t", np.arange(start, start + n, dtype="f8")), "const": ("x", np.ones(3))},
        coords={"t": np.arange(start, start + n)},
    )


def test_mode_a_where_nothing_is_makes_the_store(tmp_path: Path) -> None:
    path = tmp_path / "new.zarr"
    _series().zio.to_zarr(path, mode="a")
    _series(4, 8).zio.to_zarr(path, mode="a", append_dim="t")
    back = xzarrio.open_zarr(path)
    np.testing.assert_array_equal(back.v.values, np.arange(12.0))


def test_mode_a_with_append_dim_where_nothing_is_makes_the_store(tmp_path: Path) -> None:
    path = tmp_path / "new.zarr"
    _series().zio.to_zarr(path, append_dim="t")
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, np.arange(8.0))


def test_mode_a_minus_appends_only_what_has_the_append_dim(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    _series().zio.to_zarr(path)
    more = _series(4, 8).assign(const=("x", np.full(3, 5.0)))
    more.zio.to_zarr(path, mode="a-", append_dim="t")
    back = xzarrio.open_zarr(path)
    np.testing.assert_array_equal(back.v.values, np.arange(12.0))
    np.testing.assert_array_equal(back.const.values, np.ones(3))  # left alone, as in xarray


@pytest.mark.parametrize("write_empty", [True, False])
def test_write_empty_chunks_as_in_xarray(tmp_path: Path, write_empty: bool) -> None:
    path = tmp_path / "e.zarr"
    ds = xr.Dataset({"v": ("t", np.zeros(8))})
    ds.zio.to_zarr(path, chunks={"t": 2}, encoding={"v": {"fill_value": 0.0}},
                   write_empty_chunks=write_empty)  # fmt: skip
    stored = (
        sorted(p.name for p in (path / "v" / "c").iterdir()) if (path / "v" / "c").exists() else []
    )
    assert stored == (["0", "1", "2", "3"] if write_empty else [])


@pytest.mark.parametrize(
    "values, fill, left_out",
    [
        ([0.0, 0.0], 0.0, True),
        ([0.0, 1.0], 0.0, False),  # the first value is the fill value, not every value
        ([-0.0, 0.0], 0.0, False),  # zarr compares a fill value of 0.0 bit by bit
        ([np.nan, np.nan], np.nan, True),
        ([np.nan, 2.0], np.nan, False),
        ([7.0, 0.0], 0.0, False),
    ],
)
def test_a_chunk_is_left_out_where_every_value_is_the_fill_value(
    tmp_path: Path, values: list[float], fill: float, left_out: bool
) -> None:
    path = tmp_path / "e.zarr"
    ds = xr.Dataset({"v": ("t", np.array(values * 2))})
    ds.zio.to_zarr(path, chunks={"t": 2}, encoding={"v": {"fill_value": fill}})
    stored = sorted(p.name for p in (path / "v" / "c").glob("*"))
    assert stored == ([] if left_out else ["0", "1"])
    back = xzarrio.open_zarr(path).v.values
    np.testing.assert_array_equal(np.signbit(back), np.signbit(ds.v.values))
    np.testing.assert_array_equal(back, ds.v.values)


def test_safe_chunks_true_refuses_a_region_covering_chunks_in_part_as_xarray(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.zarr"
    xr.Dataset({"v": ("t", np.zeros(8))}).zio.to_zarr(path, chunks={"t": 4})
    part = xr.Dataset({"v": ("t", np.ones(2))})
    with pytest.raises(ValueError, match="safe_chunks=True refuses that"):
        part.zio.to_zarr(path, region={"t": slice(1, 3)}, safe_chunks=True)
    part.zio.to_zarr(path, region={"t": slice(1, 3)}, safe_chunks=False)
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, [0, 1, 1, 0, 0, 0, 0, 0])


def test_align_chunks_false_refuses_straddling_dask_chunks_as_xarray_does(tmp_path: Path) -> None:
    ds = xr.Dataset({"v": ("t", np.zeros(8))}).chunk({"t": 3})
    with pytest.raises(ValueError, match=r"overlap|align_chunks"):
        ds.zio.to_zarr(tmp_path / "a.zarr", encoding={"v": {"chunks": (2,)}}, align_chunks=False)
    assert not (tmp_path / "a.zarr").exists()
    ds.zio.to_zarr(tmp_path / "b.zarr", encoding={"v": {"chunks": (2,)}})  # aligned by default
    assert zarr.open_array(str(tmp_path / "b.zarr" / "v"), mode="r").chunks == (2,)


@pytest.mark.parametrize("flag", ["allow_partial_chunks", "safe_chunks", "align_chunks"])
def test_flags_take_a_bool_only(tmp_path: Path, flag: str) -> None:
    with pytest.raises(TypeError, match=f"{flag} takes True or False, got 'no'") as info:
        _series().zio.to_zarr(tmp_path / "f.zarr", **{flag: "no"})
    assert isinstance(info.value, xzarrio.errors.ArgumentTypeError)
    assert not (tmp_path / "f.zarr").exists()


def test_chunkmanager_store_kwargs_reach_dask_store_as_in_xarray(tmp_path: Path) -> None:
    ds = _series().chunk({"t": 4})
    # xarray sets lock itself
    kwargs: dict[str, Any] = {"chunkmanager_store_kwargs": {"lock": False}}
    with pytest.raises(TypeError, match="multiple values for keyword argument 'lock'"):
        ds.to_zarr(tmp_path / "x.zarr", **kwargs)
    with pytest.raises(TypeError, match="multiple values for keyword argument 'lock'"):
        ds.zio.to_zarr(tmp_path / "k.zarr", **kwargs)
    assert not (tmp_path / "k.zarr").exists()


# ---------------------------------------------------------------------- group=


def test_groups_are_written_beside_each_other(tmp_path: Path) -> None:
    path = tmp_path / "g.zarr"
    _series().zio.to_zarr(path, group="first", history="one")
    _series(4).zio.to_zarr(path, group="second/deep")
    first = xzarrio.open_zarr(path, group="first")
    np.testing.assert_array_equal(first.v.values, np.arange(8.0))
    assert "one" in first.attrs["history"]
    second = xzarrio.open_zarr(path, group="second/deep")
    np.testing.assert_array_equal(second.v.values, np.arange(4.0))
    assert "group='second/deep'" in second.attrs["history"]
    with pytest.raises(FileExistsError, match="the group 'first' already exists"):
        _series().zio.to_zarr(path, group="first")


def test_mode_w_replaces_one_group_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "g.zarr"
    _series().zio.to_zarr(path, group="a")
    _series().zio.to_zarr(path, group="b")
    _series(3, 100).zio.to_zarr(path, group="a", mode="w")
    np.testing.assert_array_equal(xzarrio.open_zarr(path, group="a").v.values, [100, 101, 102])
    np.testing.assert_array_equal(xzarrio.open_zarr(path, group="b").v.values, np.arange(8.0))


def test_append_and_region_writes_to_a_group(tmp_path: Path) -> None:
    path = tmp_path / "g.zarr"
    _series().zio.to_zarr(path, group="a", chunks={"t": 4})
    _series(4, 8).zio.to_zarr(path, group="a", append_dim="t")
    part = _series(4).drop_vars("const").assign(v=("t", np.full(4, -1.0)))
    part.zio.to_zarr(path, group="a", region={"t": slice(0, 4)})
    back = xzarrio.open_zarr(path, group="a")
    np.testing.assert_array_equal(back.v.values, [-1] * 4 + list(range(4, 12)))
    assert len(back.attrs["history"].splitlines()) == 3


def test_a_failed_group_write_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    from .conftest import snapshot
    from .faults import failing

    path = tmp_path / "g.zarr"
    _series().zio.to_zarr(path, group="a")
    before = snapshot(tmp_path)
    for mode in ("w-", "w"):
        with pytest.raises(RuntimeError, match="a task failed"):
            failing(RuntimeError("a task failed")).zio.to_zarr(path, group="b", mode=mode)
    with pytest.raises(RuntimeError, match="a task failed"):
        failing(RuntimeError("a task failed")).zio.to_zarr(path, group="a", mode="w")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("group", ["../up", "a//b", 3])
def test_a_group_that_is_no_path_inside_the_store_is_refused(tmp_path: Path, group: object) -> None:
    with pytest.raises((ValueError, TypeError), match="group"):
        _series().zio.to_zarr(tmp_path / "g.zarr", group=group)
    assert not (tmp_path / "g.zarr").exists()


def test_encodings_read_from_a_store_are_written_back(tmp_path: Path) -> None:
    # the open -> write -> open round trip that xarray guards (GH 10269)
    ds = xr.Dataset({"foo": ("x", np.arange(12))}, coords={"x": np.arange(12)})
    ds.foo.encoding = {"fill_value": -99, "chunks": (2,), "shards": (4,)}
    ds.zio.to_zarr(tmp_path / "a.zarr", zarr_format=3)
    first = xzarrio.open_zarr(tmp_path / "a.zarr", use_zarr_fill_value_as_mask=False)
    first.zio.to_zarr(tmp_path / "b.zarr")
    second = xzarrio.open_zarr(tmp_path / "b.zarr", use_zarr_fill_value_as_mask=False)
    for key, value in [("fill_value", -99), ("chunks", (2,)), ("shards", (4,))]:
        assert second.foo.encoding[key] == value, key
    # chunks asked for, or dask chunks changed since the read, win over the stored ones
    first.zio.to_zarr(tmp_path / "c.zarr", chunks={"x": 3})
    assert xzarrio.open_zarr(tmp_path / "c.zarr").foo.encoding["chunks"] == (3,)
    first.chunk({"x": 6}).zio.to_zarr(tmp_path / "d.zarr")
    assert xzarrio.open_zarr(tmp_path / "d.zarr").foo.encoding["chunks"] == (6,)


def test_codecs_read_from_a_store_are_kept_unless_a_compressor_is_given(tmp_path: Path) -> None:
    xr.Dataset({"v": ("x", np.arange(10.0))}).zio.to_zarr(tmp_path / "a.zarr", compressor="lz4")
    source = xzarrio.open_zarr(tmp_path / "a.zarr")
    source.zio.to_zarr(tmp_path / "kept.zarr")
    source.zio.to_zarr(tmp_path / "zstd.zarr", compressor="zstd")
    assert "lz4" in str(xzarrio.info(tmp_path / "kept.zarr")["v"].codecs).lower()
    assert "zstd" in str(xzarrio.info(tmp_path / "zstd.zarr")["v"].codecs).lower()


def test_encoding_chunks_that_are_no_integers_raise_type_error(tmp_path: Path) -> None:
    ds = xr.Dataset({"v": (("x", "y"), np.zeros((10, 10)))})
    ds.v.encoding["chunks"] = (5, 4.5)
    with pytest.raises(TypeError, match=r"encoding\['chunks'\] of variable 'v'"):
        ds.zio.to_zarr(tmp_path / "s.zarr")
    assert not (tmp_path / "s.zarr").exists()


def test_open_zarr_takes_open_datasets_keywords(tmp_path: Path) -> None:
    _series().zio.to_zarr(tmp_path / "s.zarr")
    opened = xzarrio.open_zarr(tmp_path / "s.zarr", cache=False, decode_times=False)
    np.testing.assert_array_equal(opened.v.values, np.arange(8.0))


def test_mode_a_updates_the_stores_attributes_and_r_plus_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    _series().assign_attrs(title="first", source="model").zio.to_zarr(path)
    _series().assign_attrs(title="second").zio.to_zarr(path, mode="r+", region="auto")
    assert xzarrio.open_zarr(path).attrs["title"] == "first"
    _series(4, 8).assign_attrs(title="third").zio.to_zarr(path, append_dim="t")
    back = xzarrio.open_zarr(path)
    # as in xarray, the Dataset's attributes go on the store; those it lacks stay here
    assert (back.attrs["title"], back.attrs["source"]) == ("third", "model")
    assert len(back.zio.provenance.history) == 3  # the store's trail, not the Dataset's


def _without_provenance(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_attrs(deep=False)


def test_a_variable_named_none_is_stored_as_xarray_stores_it(tmp_path: Path) -> None:
    ds = xr.Dataset({None: ("x", np.arange(3.0))}, coords={"x": [1, 2, 3]})
    ds.to_zarr(tmp_path / "xr.zarr")
    ds.zio.to_zarr(tmp_path / "zio.zarr")
    ours = xzarrio.open_zarr(tmp_path / "zio.zarr").load()
    xr.testing.assert_identical(
        _without_provenance(ours), xr.open_zarr(tmp_path / "xr.zarr").load()
    )
    assert None in ours.variables


def test_appended_times_in_other_units_are_stored_in_the_stores(tmp_path: Path) -> None:
    # a file per month, each in hours since its own start: xarray appends them
    def month(start: str) -> xr.Dataset:
        time = np.datetime64(start, "ns") + np.arange(3) * np.timedelta64(6, "h")
        ds = xr.Dataset({"v": ("time", np.arange(3.0))}, coords={"time": time})
        ds.time.encoding["units"] = f"hours since {start}"
        return ds

    path = tmp_path / "s.zarr"
    month("2000-01-01").zio.to_zarr(path)
    month("2000-02-01").zio.to_zarr(path, append_dim="time")
    back = xzarrio.open_zarr(path)
    expected = np.concatenate([month(m).time.values for m in ("2000-01-01", "2000-02-01")])
    np.testing.assert_array_equal(back.time.values, expected)
    assert back.time.encoding["units"] == "hours since 2000-01-01"


def test_a_sharded_store_copied_to_format_2_drops_the_shards(tmp_path: Path) -> None:
    ds = xr.Dataset({"v": (("t", "x"), np.arange(1000.0).reshape(100, 10))})
    ds.v.encoding = {"chunks": (10, 5), "shards": (50, 10)}
    ds.zio.to_zarr(tmp_path / "a.zarr", zarr_format=3)
    xzarrio.open_zarr(tmp_path / "a.zarr").zio.to_zarr(tmp_path / "b.zarr", zarr_format=2)
    back = xzarrio.open_zarr(tmp_path / "b.zarr")
    np.testing.assert_array_equal(back.v.values, ds.v.values)
    assert back.v.encoding["chunks"] == (10, 5)


def test_a_variable_transposed_since_the_read_keeps_its_chunks_by_dimension(
    tmp_path: Path,
) -> None:
    ds = xr.Dataset({"v": (("t", "x"), np.arange(1000.0).reshape(100, 10))})
    ds.zio.to_zarr(tmp_path / "a.zarr", chunks={"t": 50, "x": 5})
    turned = xzarrio.open_zarr(tmp_path / "a.zarr").transpose("x", "t")
    turned.zio.to_zarr(tmp_path / "b.zarr")
    back = xzarrio.open_zarr(tmp_path / "b.zarr")
    assert back.v.dims == ("x", "t")
    assert back.v.encoding["chunks"] == (5, 50)
    np.testing.assert_array_equal(back.v.values, ds.v.values.T)


def test_chunks_minus_one_means_the_whole_dimension_and_none_keeps_it(tmp_path: Path) -> None:
    ds = xr.Dataset({"v": (("t", "x"), np.zeros((12, 8)))}).chunk({"t": 3, "x": 2})
    ds.zio.to_zarr(tmp_path / "a.zarr", chunks={"t": -1, "x": None})
    assert xzarrio.open_zarr(tmp_path / "a.zarr").v.encoding["chunks"] == (12, 2)
