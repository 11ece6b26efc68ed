"""The target, looked at before anything is written: what is there, and whether it takes writes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

import xzarrio

from .conftest import S3Bucket, assert_same_data, snapshot, staging_left
from .faults import CHUNK, base, write


def test_mode_w_minus_refuses_existing_store(tmp_path: Path, small: xr.Dataset) -> None:
    small.zio.to_zarr(tmp_path / "s.zarr")
    before = snapshot(tmp_path)
    with pytest.raises(
        FileExistsError, match=r"a store already exists at .*s\.zarr'; use mode='w'"
    ):
        small.zio.to_zarr(tmp_path / "s.zarr")
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


@pytest.mark.parametrize("mode", ["w-", "w"])
def test_write_into_an_existing_empty_directory(
    tmp_path: Path, small: xr.Dataset, mode: str
) -> None:
    (tmp_path / "s.zarr").mkdir()
    small.zio.to_zarr(tmp_path / "s.zarr", mode=mode)
    assert_same_data(xzarrio.open_zarr(tmp_path / "s.zarr"), small)
    assert staging_left(tmp_path) == []


def test_region_write_to_missing_store_is_file_not_found(tmp_path: Path, small: xr.Dataset) -> None:
    # an append there makes the store, as in xarray (tests/test_dropin.py)
    with pytest.raises(FileNotFoundError, match=r"no zarr store at .*missing\.zarr"):
        small.zio.to_zarr(tmp_path / "missing.zarr", region={"time": slice(0, 2)})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_stores_of_either_format_are_written_in_place(
    tmp_path: Path, small: xr.Dataset, zarr_format: int
) -> None:
    # the target is read as format 3 first, then as format 2
    path = tmp_path / "plain.zarr"
    small.isel(time=slice(0, 8)).to_zarr(path, zarr_format=zarr_format)
    small.isel(time=slice(8, 12)).zio.to_zarr(path, append_dim="time")
    patch = small[["temp"]].isel(time=slice(0, 2)) + 1
    patch.drop_vars(["mask", "y", "x"], errors="ignore").zio.to_zarr(
        path, region={"time": slice(0, 2)}
    )
    expected = small.copy()
    expected["temp"][:2] = patch["temp"]
    assert zarr.open_group(path, mode="r").metadata.zarr_format == zarr_format
    assert_same_data(xr.open_zarr(path), expected)


def days(n: int, start: int = 0) -> xr.Dataset:
    """*n* daily values of ``v`` along ``time`` from day *start* of 2000 on."""
    time = np.datetime64("2000-01-01", "ns") + np.arange(start, start + n).astype("m8[D]")
    return xr.Dataset({"v": ("time", np.arange(start, start + n, dtype="f4"))}, {"time": time})


def arrays_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the arrays xarray reads from now on, once per read (while patched)."""
    reads: list[str] = []
    wrapper = xr.backends.zarr.ZarrArrayWrapper
    original = wrapper._getitem

    def counted(self: Any, key: Any) -> Any:
        reads.append(self._array.basename)
        return original(self, key)

    monkeypatch.setattr(wrapper, "_getitem", counted)
    return reads


@pytest.mark.parametrize("units", [None, "hours since 1999-12-31"])
def test_an_append_reads_the_stored_time_coordinate_once_more_than_xarray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, units: str | None
) -> None:
    # xarray's lazy decoding reads a time coordinate's first and last values to learn
    # its type; the append's check reads it whole, once, and decodes it in memory
    encoding = {"time": {"units": units}} if units else {}
    ours, theirs = tmp_path / "ours.zarr", tmp_path / "theirs.zarr"
    days(6).zio.to_zarr(ours, encoding=encoding)
    days(6).to_zarr(theirs, encoding=encoding)
    reads = arrays_read(monkeypatch)
    days(2, start=6).to_zarr(theirs, append_dim="time")
    by_xarray, reads[:] = reads.count("time"), []
    days(2, start=6).zio.to_zarr(ours, append_dim="time")
    assert reads.count("time") == by_xarray + 1
    with pytest.raises(xzarrio.errors.AppendMismatchError, match="already holds"):
        days(1, start=5).zio.to_zarr(ours, append_dim="time")
    monkeypatch.undo()
    stored = xr.open_zarr(ours)
    assert_same_data(stored, days(8))
    assert stored.time.encoding["units"] == xr.open_zarr(theirs).time.encoding["units"]


def test_a_region_write_reads_the_stored_time_coordinate_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a template's fillers drop the coordinates; xarray's lazy decoding would read the
    # stored one twice (its first and last values), in the one chunk it is stored in
    path = tmp_path / "template.zarr"
    days(8).zio.to_zarr(path, chunks={"time": 2})
    reads = arrays_read(monkeypatch)
    (days(2, start=2) * 0).drop_vars("time").zio.to_zarr(path, region={"time": slice(2, 4)})
    assert reads.count("time") == 1


# ---------------------------------------------------------------- read-only stores


def test_read_only_store_object_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    base().zio.to_zarr(path, chunks={"t": CHUNK})
    before = snapshot(tmp_path)
    store = zarr.storage.LocalStore(path, read_only=True)
    for mode in ("w", "append", "region"):
        with pytest.raises(xzarrio.errors.StoreNotWritableError, match="read-only"):
            write(mode, base(), store)
    assert snapshot(tmp_path) == before


def test_read_only_mount_is_refused_before_anything_is_written(tmpfs: Path) -> None:
    path = tmpfs / "s.zarr"
    base().zio.to_zarr(path, chunks={"t": CHUNK})
    remount = subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {remount.stderr.decode().strip()}")
    try:
        before = snapshot(tmpfs)
        for mode in ("append", "region"):
            with pytest.raises(PermissionError, match="read-only"):
                write(mode, base(), path)
        with pytest.raises(PermissionError, match="does not take new entries"):
            write("w", base(), path)
        assert snapshot(tmpfs) == before
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=False)


# ---------------------------------------------------------------- object stores


def test_object_store_refusals_are_xzarrio_errors(s3_bucket: S3Bucket) -> None:
    url, options = f"{s3_bucket.url}/s.zarr", s3_bucket.storage_options
    base().zio.to_zarr(url, storage_options=options)
    before = s3_bucket.snapshot()
    with pytest.raises(FileExistsError, match="a store already exists") as info:
        base().zio.to_zarr(url, storage_options=options)
    assert isinstance(info.value, xzarrio.errors.StoreExistsError)
    assert isinstance(info.value, ValueError)  # as xarray's ContainsGroupError is
    with pytest.raises(FileNotFoundError):
        base().zio.to_zarr(
            f"{s3_bucket.url}/none.zarr", region={"t": slice(0, 400)}, storage_options=options
        )
    assert xzarrio.repair(url, storage_options=options) == []
    assert s3_bucket.snapshot() == before
