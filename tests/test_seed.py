"""The seed workload at full size: 8000 × 7500 float32 (229 MiB), stored chunks of 2000 rows."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import xzarrio

from .conftest import CountingScheduler, disk_bytes

pytestmark = pytest.mark.slow
SHAPE = (8000, 7500)
LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00: zio\.to_zarr\(.*\): (?P<text>.*) "
    r"\[xzarrio \S+; xarray \S+; zarr \S+; dask \S+\]$"
)


@pytest.fixture(scope="module")
def seed() -> xr.Dataset:
    rng = np.random.default_rng(42)
    data = rng.normal(2000, 1000, SHAPE).astype("f4")
    return xr.Dataset({"wvel": (("y", "x"), data)})


@pytest.fixture(scope="module")
def written(
    tmp_path_factory: pytest.TempPathFactory, seed: xr.Dataset
) -> tuple[Path, xzarrio.WriteReport]:
    path = tmp_path_factory.mktemp("seed") / "disk1_data"
    report = seed.zio.to_zarr(path, chunks={"y": 2000}, history="written for practice")
    return path, report


def test_seed_attributes_as_specified(written: tuple[Path, xzarrio.WriteReport]) -> None:
    path, _ = written
    attrs = zarr.open_group(path).attrs.asdict()
    history, creation_date = attrs["history"], attrs["creation_date"]
    assert isinstance(history, str) and isinstance(creation_date, str)
    lines = history.splitlines()
    assert len(lines) == 1
    match = LINE.match(lines[0])
    assert match and match["text"] == "written for practice", lines[0]
    assert "chunks={'y': 2000}" in lines[0]
    created = dt.datetime.fromisoformat(creation_date)
    assert created.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 600
    assert isinstance(attrs["gmt_timestamp"], int)
    assert attrs["gmt_timestamp"] == int(created.timestamp())
    assert "date_modified" not in attrs


def test_seed_report_equals_the_disk(
    written: tuple[Path, xzarrio.WriteReport], seed: xr.Dataset
) -> None:
    path, report = written
    assert report.variables == ("wvel",)
    assert report.nbytes == 8000 * 7500 * 4 == seed.nbytes
    assert report.nbytes_stored == disk_bytes(path)
    assert report.ratio == pytest.approx(report.nbytes / disk_bytes(path))
    assert 1.0 < report.ratio < 1.5  # random normal floats barely compress
    assert report.seconds > 0 and report.throughput == pytest.approx(report.nbytes / report.seconds)
    array = zarr.open_array(path / "wvel")
    assert array.chunks == (2000, 7500)
    assert len(os.listdir(path / "wvel" / "c")) == 4
    np.testing.assert_array_equal(array[:], seed.wvel.values)


def test_seed_zeros_store_in_under_20_kB(tmp_path: Path) -> None:
    zeros = xr.Dataset({"wvel": (("y", "x"), np.zeros(SHAPE, "f4"))})
    report = zeros.zio.to_zarr(tmp_path / "zeros", chunks={"y": 2000})
    assert report.nbytes == 240_000_000
    assert disk_bytes(tmp_path / "zeros") == report.nbytes_stored < 20_000
    assert xzarrio.info(tmp_path / "zeros").nbytes_stored == report.nbytes_stored


def test_seed_reopen_is_lazy_and_copy_keeps_the_trail(
    written: tuple[Path, xzarrio.WriteReport], seed: xr.Dataset, tmp_path: Path
) -> None:
    path, _ = written
    counter = CountingScheduler()
    import dask

    with dask.config.set(scheduler=counter):
        lazy = xzarrio.open_zarr(path)
    assert counter.computes == 0
    assert lazy.wvel.chunks == ((2000,) * 4, (7500,))
    copy = lazy.zio.to_zarr(tmp_path / "copy", history="copied chunk by chunk")
    history = copy.provenance.history
    assert len(history) == 2
    assert "copied chunk by chunk" in history[0].text and f"source={str(path)!r}" in history[0].text
    assert "written for practice" in history[1].text
    assert history[0].time >= history[1].time
    assert copy.provenance.creation_date >= lazy.zio.provenance.creation_date
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "copy" / "wvel")[:], seed.wvel.values)
