"""Appends, encodings and deferred writes that once went wrong."""

from __future__ import annotations

import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

import xzarrio


def series(n: int, start: int = 0, **extra: np.ndarray) -> xr.Dataset:
    return xr.Dataset(
        {
            "v": ("t", np.arange(start, start + n, dtype="f8")),
            **{k: ("t", v) for k, v in extra.items()},
        }
    )


def test_failed_append_leaves_provenance_and_attributes_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(4).assign_attrs(title="kept").zio.to_zarr(path)
    attrs = zarr.open_group(path).attrs.asdict()

    def boom(block: np.ndarray) -> np.ndarray:
        raise RuntimeError("disk on fire")

    bad = xr.Dataset({"v": ("t", da.map_blocks(boom, da.zeros(3, chunks=3), dtype="f8"))})
    with pytest.raises(RuntimeError, match="disk on fire"):
        bad.zio.to_zarr(path, append_dim="t")
    assert zarr.open_group(path).attrs.asdict() == attrs


def test_deferred_writes_stamp_the_time_and_trail_when_they_run(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(4).zio.to_zarr(path)
    first = series(2, 4).zio.to_zarr(path, append_dim="t", history="first append", compute=False)
    second = series(2, 6).zio.to_zarr(path, append_dim="t", history="second append", compute=False)
    first.compute()
    second.compute()
    texts = [e.text for e in xzarrio.open_zarr(path).zio.provenance.history]
    assert "second append" in texts[0] and "first append" in texts[1] and len(texts) == 3
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, np.arange(8.0))


def test_report_of_a_store_object_reopens_it() -> None:
    store = zarr.storage.MemoryStore()
    report = series(5).zio.to_zarr(store)
    np.testing.assert_array_equal(report.open().v.values, np.arange(5.0))


def test_options_accept_what_to_zarr_accepts() -> None:
    with xzarrio.set_options(compressor="ZSTD", num_workers=np.int64(2)):
        assert xzarrio.get_option("num_workers") == 2


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
