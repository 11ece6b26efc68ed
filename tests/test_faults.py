"""Nothing lost: faults injected into mode="w", appends and region writes.

After every fault the store reads exactly as before (the same bytes on disk),
with no staging directory or journal left behind once xzarrio has looked at it.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

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


def failing_data(exc: BaseException, n: int = ROWS) -> xr.Dataset:
    """400 rows in 40 chunks; the chunk at row 250 raises *exc*, the others write."""

    def maybe_fail(block: np.ndarray, block_info=None) -> np.ndarray:  # type: ignore[no-untyped-def]
        if block_info[None]["array-location"][0][0] == 250:
            time.sleep(0.05)
            raise exc
        return block

    data = da.map_blocks(maybe_fail, da.full((n, COLS), -1.0, chunks=(CHUNK, COLS)), dtype="f8")
    return xr.Dataset({"v": (("t", "x"), data)})


def write(mode: str, ds: xr.Dataset, path: Path) -> None:
    if mode == "w":
        ds.zio.to_zarr(path, mode="w", num_workers=2)
    elif mode == "append":
        ds.zio.to_zarr(path, append_dim="t", num_workers=2)
    else:
        ds.zio.to_zarr(path, region={"t": slice(0, ROWS)}, num_workers=2)


MODES = ["w", "append", "region"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "exc",
    [RuntimeError("a task failed"), KeyboardInterrupt()],
    ids=["exception", "keyboard-interrupt"],
)
def test_failing_task(store: Path, mode: str, exc: BaseException) -> None:
    before = snapshot(store.parent)
    with pytest.raises(type(exc)):
        write(mode, failing_data(exc), store)
    assert_as_before(store, before)


@pytest.mark.parametrize("mode", MODES)
def test_disk_full(store: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's fifth chunk write fails with ENOSPC, as on a full disk."""
    original = zarr.storage.LocalStore.set
    calls = {"chunks": 0}

    async def set_until_full(self, key, value):  # type: ignore[no-untyped-def]
        if not key.rsplit("/", 1)[-1].startswith(("zarr.json", ".z")):
            calls["chunks"] += 1
            if calls["chunks"] == 5:
                raise OSError(errno.ENOSPC, "No space left on device", key)
        return await original(self, key, value)

    before = snapshot(store.parent)
    monkeypatch.setattr(zarr.storage.LocalStore, "set", set_until_full)
    data = xr.Dataset({"v": (("t", "x"), da.full((ROWS, COLS), -1.0, chunks=(CHUNK, COLS)))})
    with pytest.raises(OSError, match="No space left on device") as info:
        write(mode, data, store)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.setattr(zarr.storage.LocalStore, "set", original)
    assert calls["chunks"] >= 5
    assert_as_before(store, before)


def kill_mid_write(mode: str, path: Path) -> None:
    marker = path.parent / "started"
    proc = subprocess.Popen([sys.executable, str(WRITER), mode, str(path), str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the writer ended before it began writing"
            assert time.monotonic() < deadline, "the writer never began"
            time.sleep(0.02)
        time.sleep(1.0)  # some chunks written, most not
        assert proc.poll() is None, "the writer finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    marker.unlink()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_killed_writer(store: Path, mode: str) -> None:
    before = snapshot(store.parent)
    kill_mid_write(mode, store)
    if mode == "w":
        # the old store was never touched; the staging directory is swept on the next look
        assert [p for p in leftovers(store.parent) if STAGING_MARK in p]
    else:
        with pytest.raises(
            xzarrio.errors.InterruptedWriteError, match=r"was interrupted .* xzarrio\.repair\("
        ):
            xzarrio.open_zarr(store)
        with pytest.raises(RuntimeError, match="was interrupted"):
            base().zio.to_zarr(store, append_dim="t")
        cli = subprocess.run(
            [sys.executable, "-m", "xzarrio.cli", "repair", str(store)],
            capture_output=True,
            text=True,
        )
        assert cli.returncode == 0 and "rolled back:" in cli.stdout, cli.stderr
    assert_as_before(store, before)
    assert xzarrio.repair(store) == []


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


def test_region_covering_part_of_a_chunk_is_refused_unless_allowed(store: Path) -> None:
    before = snapshot(store.parent)
    patch = xr.Dataset({"v": (("t", "x"), np.zeros((10, COLS)))})
    with pytest.raises(
        ValueError,
        match=r"region\['t'\] = slice\(5, 15, None\) covers stored chunks of 'v' only in part",
    ) as info:
        patch.zio.to_zarr(store, region={"t": slice(5, 15)})
    assert isinstance(info.value, xzarrio.errors.RegionError)
    assert snapshot(store.parent) == before
    patch.zio.to_zarr(store, region={"t": slice(5, 15)}, allow_partial_chunks=True)
    values = xzarrio.open_zarr(store).v.values
    assert (values[5:15] == 0).all()
    np.testing.assert_array_equal(values[:5], base().v.values[:5])
    np.testing.assert_array_equal(values[15:], base().v.values[15:])


def test_region_ending_at_the_store_end_is_whole(store: Path) -> None:
    tail = xr.Dataset({"v": (("t", "x"), np.zeros((30, COLS)))})
    tail.zio.to_zarr(store, region={"t": slice(370, 400)})
    assert (xzarrio.open_zarr(store).v.values[370:] == 0).all()
