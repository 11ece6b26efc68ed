"""Shared fixtures: a small dataset, its chunked twin, and disk snapshots."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr

import xzarrio  # noqa: F401  (registers .zio)

PROVENANCE_KEYS = ("history", "creation_date", "gmt_timestamp", "date_modified")


def without_provenance(ds: xr.Dataset) -> xr.Dataset:
    """*ds* with the provenance attributes removed, for identity checks."""
    out = ds.copy(deep=False)
    out.attrs = {k: v for k, v in ds.attrs.items() if k not in PROVENANCE_KEYS}
    return out


def assert_same_data(stored: xr.Dataset, original: xr.Dataset) -> None:
    """Identical but for the provenance attributes (which a write adds)."""
    xr.testing.assert_identical(
        without_provenance(stored).load(), without_provenance(original).load()
    )


def snapshot(root: Path) -> dict[str, str]:
    """Every file under *root* (relative path → sha256): what 'unchanged on disk' means."""
    result = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            result[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        if not files and folder != str(root):
            result[str(Path(folder).relative_to(root)) + "/"] = "dir"
    return result


def disk_bytes(root: Path) -> int:
    """Bytes of all files under *root*."""
    return sum((Path(f) / n).stat().st_size for f, _, names in os.walk(root) for n in names)


class CountingScheduler:
    """A dask scheduler that counts the computes it is asked for."""

    def __init__(self) -> None:
        self.computes = 0

    def __call__(self, dsk, keys, **kwargs):  # type: ignore[no-untyped-def]
        self.computes += 1
        return dask.get(dsk, keys, **kwargs)


@pytest.fixture
def small() -> xr.Dataset:
    """Two variables on (time, y, x) with coordinates and attributes, in memory."""
    rng = np.random.default_rng(0)
    time = np.arange("2000-01-01", "2000-01-13", dtype="datetime64[D]").astype("datetime64[ns]")
    return xr.Dataset(
        {
            "temp": (
                ("time", "y", "x"),
                rng.normal(280, 5, (12, 30, 40)).astype("f4"),
                {"units": "K"},
            ),
            "mask": (("y", "x"), rng.random((30, 40)) > 0.5),
        },
        coords={"time": time, "y": np.arange(30.0), "x": np.arange(40.0)},
        attrs={"title": "small test field", "history": "2020-05-06T07:08:09+00:00: made by hand"},
    )


@pytest.fixture
def small_chunked(small: xr.Dataset) -> xr.Dataset:
    """The same dataset, dask-backed."""
    return small.chunk({"time": 5, "y": 15})


@pytest.fixture
def counting_scheduler() -> CountingScheduler:
    return CountingScheduler()
