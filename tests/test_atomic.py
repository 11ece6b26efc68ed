"""Staging and swap-in: a new or replaced local store appears whole, or not at all.

What a killed writer left beside the store is swept by the next write, or by ``repair``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import xzarrio
from xzarrio.atomic import STAGING_MARK

from .conftest import assert_same_data, series, snapshot, staging_left


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


def test_failed_new_store_removes_the_folders_it_made(tmp_path: Path) -> None:
    def boom(block: np.ndarray) -> np.ndarray:
        raise RuntimeError("x")

    bad = xr.Dataset({"v": ("t", da.map_blocks(boom, da.zeros(3, chunks=3), dtype="f8"))})
    with pytest.raises(RuntimeError):
        bad.zio.to_zarr(tmp_path / "a" / "b" / "s.zarr")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("chunked", [False, True], ids=["in-memory", "dask"])
def test_store_appearing_during_a_w_minus_write_is_refused(
    tmp_path: Path, small: xr.Dataset, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    """Another writer creates the store while ours is being written: ours must not replace it."""
    from xzarrio.writing import execution

    path = tmp_path / "s.zarr"
    original = execution.record_manifests

    def record_then_race(*args: Any, **kwargs: Any) -> Any:
        recorded = original(*args, **kwargs)  # after our data, before our commit
        monkeypatch.setattr(execution, "record_manifests", original)
        (small * 0).zio.to_zarr(path)  # the other writer wins the race
        return recorded

    monkeypatch.setattr(execution, "record_manifests", record_then_race)
    with pytest.raises(
        FileExistsError, match=r"a store appeared at .*s\.zarr' while this one was written"
    ) as info:
        (small.chunk({"time": 6}) if chunked else small).zio.to_zarr(path)
    assert isinstance(info.value, xzarrio.errors.StoreExistsError)
    assert float(xzarrio.open_zarr(path).temp.max()) == 0  # the other writer's store is intact
    assert staging_left(tmp_path) == []


# ---------------------------------------------------------------- what a killed writer left


def staging_name(path: Path, host: str, pid: int, suffix: str = "") -> Path:
    return path.with_name(f".{path.name}{STAGING_MARK}{host}-{pid}-0-0123456789ab{suffix}")


def dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


def test_sweep_restores_an_old_store_left_between_two_renames(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(np.arange(4.0)).zio.to_zarr(path)
    host = socket.gethostname().replace("-", "_")
    pid = dead_pid()
    aside = staging_name(path, host, pid, "-old")
    os.rename(path, aside)  # the kill came after the first rename of a fallback swap
    series(np.zeros(4)).zio.to_zarr(staging_name(path, host, pid), mode="w")  # the complete new one
    np.testing.assert_array_equal(xzarrio.open_zarr(aside).v.values, np.arange(4.0))
    with pytest.raises(xzarrio.errors.InterruptedWriteError, match=r"xzarrio\.repair\("):
        xzarrio.open_zarr(path)  # opening never repairs: it says how
    xzarrio.repair(path)  # puts the old one back
    reopened = xzarrio.open_zarr(path)
    np.testing.assert_array_equal(reopened.v.values, np.arange(4.0))
    assert not [p for p in tmp_path.iterdir() if STAGING_MARK in p.name]


def test_sweep_leaves_other_machines_staging_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(np.arange(4.0)).zio.to_zarr(path)
    theirs = staging_name(path, "another_host", dead_pid())
    theirs.mkdir()
    series(np.ones(4)).zio.to_zarr(path, mode="w")  # a write sweeps this host's staging only
    xzarrio.repair(path)
    assert theirs.exists()
