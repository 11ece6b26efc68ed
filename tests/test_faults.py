"""Nothing lost when writers run side by side, and region writes that split chunks.

The fault table (every fault × every mode × every kind of store) is in
``test_fault_table.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xzarrio
from xzarrio.atomic import STAGING_MARK
from xzarrio.journal import JOURNAL_SUFFIX

from .conftest import snapshot

WRITER = Path(__file__).with_name("fault_writer.py")
ROWS, COLS, CHUNK = 400, 50, 10


def base() -> xr.Dataset:
    return xr.Dataset({"v": (("t", "x"), np.arange(ROWS * COLS, dtype="f8").reshape(ROWS, COLS))})


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "s.zarr"
    base().zio.to_zarr(path, chunks={"t": CHUNK})
    return path


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if STAGING_MARK in p.name or JOURNAL_SUFFIX in p.name]


def assert_as_before(path: Path, before: dict[str, str]) -> None:
    reopened = xzarrio.open_zarr(path)  # also sweeps what a killed writer left
    assert snapshot(path.parent) == before
    assert leftovers(path.parent) == []
    np.testing.assert_array_equal(reopened.v.values, base().v.values)


# ---------------------------------------------------------------- concurrency

REGION_SCRIPT = """
import sys, numpy as np, xarray as xr, xzarrio
start, stop, value = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ds = xr.Dataset({"v": (("t", "x"), np.full((stop - start, 50), value))})
ds.zio.to_zarr(sys.argv[1], region={"t": slice(start, stop)}, history=f"rows {start}-{stop}")
"""

REPLACE_SCRIPT = """
import sys, numpy as np, xarray as xr, xzarrio
value = float(sys.argv[2])
ds = xr.Dataset({"v": (("t", "x"), np.full((400, 50), value))}).chunk({"t": 10})
ds.zio.to_zarr(sys.argv[1], mode="w", num_workers=2)
"""


def run_together(*argvs: list[str]) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", *argv]) for argv in argvs]
    for proc in procs:
        assert proc.wait(timeout=120) == 0


@pytest.mark.slow
def test_two_processes_write_disjoint_regions_at_once(store: Path) -> None:
    run_together(
        [REGION_SCRIPT, str(store), "0", "200", "1"],
        [REGION_SCRIPT, str(store), "200", "400", "2"],
    )
    out = xzarrio.open_zarr(store)
    assert (out.v.values[:200] == 1).all() and (out.v.values[200:] == 2).all()
    texts = [e.text for e in out.zio.provenance.history]
    assert any("rows 0-200" in t for t in texts) and any("rows 200-400" in t for t in texts)
    assert leftovers(store.parent) == []


@pytest.mark.slow
def test_two_processes_replace_one_store_at_once(store: Path) -> None:
    run_together([REPLACE_SCRIPT, str(store), "1"], [REPLACE_SCRIPT, str(store), "2"])
    values = xzarrio.open_zarr(store).v.values
    assert values.shape == (ROWS, COLS)
    assert (values == 1).all() or (values == 2).all()  # one complete dataset, never a mix
    assert leftovers(store.parent) == []


def test_region_covering_part_of_a_chunk_is_refused_with_safe_chunks_as_in_xarray(
    store: Path,
) -> None:
    before = snapshot(store.parent)
    patch = xr.Dataset({"v": (("t", "x"), np.zeros((10, COLS)))})
    with pytest.raises(
        ValueError,
        match=r"region\['t'\] = slice\(5, 15, None\) covers stored chunks of 'v' only in part",
    ) as info:
        patch.zio.to_zarr(store, region={"t": slice(5, 15)}, safe_chunks=True)
    assert isinstance(info.value, xzarrio.errors.RegionError)
    assert snapshot(store.parent) == before
    patch.zio.to_zarr(store, region={"t": slice(5, 15)})  # locked chunk by chunk
    values = xzarrio.open_zarr(store).v.values
    assert (values[5:15] == 0).all()
    np.testing.assert_array_equal(values[:5], base().v.values[:5])
    np.testing.assert_array_equal(values[15:], base().v.values[15:])


def test_region_ending_at_the_store_end_is_whole(store: Path) -> None:
    tail = xr.Dataset({"v": (("t", "x"), np.zeros((30, COLS)))})
    tail.zio.to_zarr(store, region={"t": slice(370, 400)})
    assert (xzarrio.open_zarr(store).v.values[370:] == 0).all()
