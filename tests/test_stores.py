"""Locating a store, and saying what is at a path that holds none."""

from __future__ import annotations

from pathlib import Path

import pytest

import xzarrio

from .conftest import steps


def test_missing_store_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"no zarr store at .*nowhere.zarr': the path does not exist"
    ):
        xzarrio.open_zarr(tmp_path / "nowhere.zarr")
    with pytest.raises(FileNotFoundError):
        xzarrio.info(tmp_path / "nowhere.zarr")


def test_directory_that_is_not_zarr_is_named(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match=r"'.*plain' is not a zarr store: none of \['zarr.json'"):
        xzarrio.open_zarr(tmp_path / "plain")
    (tmp_path / "file.zarr").write_text("x")
    with pytest.raises(ValueError, match=r"'.*file.zarr' is not a zarr store: it is a file"):
        xzarrio.open_zarr(tmp_path / "file.zarr")


def test_missing_group_is_file_not_found(tmp_path: Path) -> None:
    steps(3).zio.to_zarr(tmp_path / "s.zarr")
    with pytest.raises(FileNotFoundError, match=r"no group 'g' in the zarr store"):
        xzarrio.open_zarr(tmp_path / "s.zarr", group="g")
