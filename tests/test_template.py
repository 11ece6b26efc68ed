"""``compute=False``: a new store's template at once, its data later (the pangeo pattern).

A template written with ``compute=False`` is the store, metadata and
coordinates, at call time (xarray does the same); the returned ``Delayed``
fills it in place under a journal, and a fill that fails leaves the template.
Region writes from several processes can fill it instead, and their history
is one line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import distributed
import numpy as np
import pytest
import xarray as xr
from dask.delayed import Delayed

import xzarrio
import xzarrio.writing.transactions

from .conftest import snapshot
from .faults import failing

ROWS, COLS, CHUNK = 40, 6, 10


def _template() -> xr.Dataset:
    """Dask zeros (nothing to compute yet), an in-memory variable and coordinates."""
    return xr.Dataset(
        {
            "v": (("t", "x"), da.zeros((ROWS, COLS), chunks=(CHUNK, COLS))),
            "w": ("t", np.arange(ROWS, dtype="f8")),
        },
        coords={"t": np.arange(ROWS), "x": np.arange(COLS)},
        attrs={"title": "template"},
    )


def _rows(start: int, stop: int) -> xr.Dataset:
    """Rows *start*:*stop* of v, numbered by row, to write as a region."""
    values = np.repeat(np.arange(start, stop, dtype="f8")[:, None], COLS, axis=1)
    return xr.Dataset({"v": (("t", "x"), values)})


def test_compute_false_writes_the_template_now(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    delayed = _template().zio.to_zarr(path, compute=False, chunks={"t": CHUNK})
    assert isinstance(delayed, Delayed)
    now = xzarrio.open_zarr(path)
    assert now.attrs["title"] == "template" and "history" in now.attrs
    np.testing.assert_array_equal(now.t.values, np.arange(ROWS))
    np.testing.assert_array_equal(now.w.values, np.arange(ROWS))  # in memory: written now
    assert np.isnan(now.v.values).all()  # dask data: not yet
    assert not list(path.glob("v/c/*")), "no chunk of v is written before compute"
    report = delayed.compute()
    assert isinstance(report, xzarrio.WriteReport)
    assert set(report.variables) == {"v", "w", "t", "x"}
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, 0.0)
    assert len(report.provenance.history) == 1  # the fill adds no line


def test_compute_false_with_mode_w_replaces_the_store_at_call_time(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    _rows(0, ROWS).zio.to_zarr(path)
    _template().zio.to_zarr(path, mode="w", compute=False)
    assert "w" in xzarrio.open_zarr(path).variables


def test_a_fill_that_fails_leaves_the_template(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    delayed = failing(RuntimeError("chunk at row 250")).zio.to_zarr(path, compute=False)
    template = snapshot(tmp_path)
    with pytest.raises(RuntimeError, match="chunk at row 250"):
        delayed.compute()
    assert snapshot(tmp_path) == template


def test_the_fill_keeps_region_writes_made_meanwhile_only_where_it_does_not_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.zarr"
    delayed = _template().zio.to_zarr(path, compute=False, chunks={"t": CHUNK})
    _rows(0, CHUNK).zio.to_zarr(path, region={"t": slice(0, CHUNK)})
    delayed.compute()  # the Delayed writes all of v: the zeros win, as in xarray
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, 0.0)


_FILL_ONE_PART = """
import sys, numpy as np, xarray as xr, xzarrio
path, start, stop, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
values = np.repeat(np.arange(start, stop, dtype="f8")[:, None], cols, axis=1)
part = xr.Dataset({"v": (("t", "x"), values)})
for row in range(start, stop, 10):  # one region write per stored chunk
    part.isel(t=slice(row - start, row - start + 10)).zio.to_zarr(
        path, region={"t": slice(row, row + 10)}
    )
"""


def test_four_processes_fill_one_template_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    rows = 4 * 3 * CHUNK
    template = xr.Dataset(
        {"v": (("t", "x"), da.zeros((rows, COLS), chunks=(CHUNK, COLS)))},
        coords={"t": np.arange(rows)},
    )
    template.zio.to_zarr(path, compute=False, chunks={"t": CHUNK})
    quarter = rows // 4
    command = [sys.executable, "-c", _FILL_ONE_PART, str(path)]
    writers = [
        subprocess.Popen([*command, str(start), str(start + quarter), str(COLS)])
        for start in range(0, rows, quarter)
    ]
    assert [writer.wait(timeout=300) for writer in writers] == [0, 0, 0, 0]
    back = xzarrio.open_zarr(path)
    np.testing.assert_array_equal(back.v.values[:, 0], np.arange(rows, dtype="f8"))
    history = back.zio.provenance.history
    assert len(history) == 2, [str(e) for e in history]  # the template and one run
    assert history[0].text.startswith("12 region writes, the last: zio.to_zarr(")
    assert not (tmp_path / ".s.zarr.xzarrio-journal").exists()


def _chunk_writes(delayed: Delayed) -> set[str]:
    """The keys of the tasks of *delayed*'s graph that store one chunk each (dask's
    ``store-map`` tasks, not the aliases of them its graph also holds)."""
    return {
        str(key)
        for key, task in dict(delayed.__dask_graph__()).items()
        if isinstance(key, tuple)
        and str(key[0]).startswith("store-map")
        and getattr(getattr(task, "func", None), "__name__", "") != "_identity"
    }


def test_compute_false_returns_the_graph_of_the_chunk_writes(tmp_path: Path) -> None:
    """One task per stored chunk written, in the real graph, not one opaque task."""
    path = tmp_path / "s.zarr"
    delayed = _template().zio.to_zarr(path, compute=False, chunks={"t": CHUNK})
    assert len(_chunk_writes(delayed)) == ROWS // CHUNK  # w was written now
    report = delayed.compute()
    assert set(report.variables) == {"v", "w", "t", "x"}
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, 0.0)


def test_compute_false_on_a_client_writes_through_the_cluster_and_commits_once(
    tmp_path: Path, cluster_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.zarr"
    template = _template().assign(v=lambda ds: ds.v + 1)
    delayed = template.zio.to_zarr(
        path, compute=False, chunks={"t": CHUNK}, scheduler=cluster_client
    )
    assert len(_chunk_writes(delayed)) == ROWS // CHUNK
    commits: list[str] = []
    commit = xzarrio.writing.transactions.InPlaceLocal.commit

    def counted(self: Any, message: str) -> None:
        commits.append(message)
        commit(self, message)

    monkeypatch.setattr(xzarrio.writing.transactions.InPlaceLocal, "commit", counted)
    with distributed.get_task_stream(cluster_client) as stream:
        report = delayed.compute()
    # every chunk written by a task on the cluster's workers (the graph is optimised
    # there, so count the chunk indices of its store tasks, not their names)
    ran = [task["key"] for task in stream.data]
    stored = {key[1:] for key in ran if isinstance(key, tuple) and key[0].startswith("store-map")}
    assert len(stored) == ROWS // CHUNK
    assert len(commits) == 1
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, 1.0)
    assert len(report.provenance.history) == 1
    assert not (tmp_path / ".s.zarr.xzarrio-journal").exists()  # committed: no journal left
    with pytest.raises(RuntimeError, match="already been computed"):
        delayed.compute()


def test_dask_compute_of_deferred_writes_writes_and_commits_each(tmp_path: Path) -> None:
    """The common pattern: several deferred writes computed at once, on dask's threads."""
    first = _template().zio.to_zarr(tmp_path / "a.zarr", compute=False, chunks={"t": CHUNK})
    second = (_template() + 1).zio.to_zarr(tmp_path / "b.zarr", compute=False, chunks={"t": CHUNK})
    reports = dask.compute(first, second, scheduler="threads")
    assert [type(report) for report in reports] == [xzarrio.WriteReport] * 2
    np.testing.assert_array_equal(xzarrio.open_zarr(tmp_path / "a.zarr").v.values, 0.0)
    np.testing.assert_array_equal(xzarrio.open_zarr(tmp_path / "b.zarr").v.values, 1.0)
    assert not list(tmp_path.glob(".*xzarrio-journal"))


def test_a_failed_dask_compute_of_a_fill_is_rolled_back_by_its_compute(tmp_path: Path) -> None:
    """dask.compute raises the task's error; the fill's own .compute() then ends it."""
    path = tmp_path / "s.zarr"
    delayed = failing(RuntimeError("chunk at row 250")).zio.to_zarr(path, compute=False)
    template = snapshot(tmp_path)
    with pytest.raises(RuntimeError, match="chunk at row 250"):
        dask.compute(delayed, scheduler="threads")
    with pytest.raises(RuntimeError, match="chunk at row 250"):
        delayed.compute()  # runs the fill again, fails again, and rolls back this time
    assert snapshot(tmp_path) == template
