"""The profile tells the truth: CPU-measured efficiency, and findings that say what to change.

Each finding has a computation that has the problem and one that does not.
The rules are also checked on numbers alone (``xzarrio.profiling.findings.find``), so
that their edges do not depend on how loaded the machine is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xzarrio
from xzarrio.profiling.findings import FINDING_KINDS, Finding, Measured, find


def python_loop(block: np.ndarray) -> np.ndarray:
    """Pure Python per element: holds the GIL the whole time."""
    out = np.empty(block.shape)
    flat, result = block.ravel(), out.ravel()
    for i in range(flat.size):
        value = flat[i]
        for _ in range(4):
            value = (value * 1.0001) % 7.0
        result[i] = value
    return out


def heavy(block: np.ndarray) -> np.ndarray:
    """numpy all the way: releases the GIL, about 50 ms per 100 000 values."""
    for _ in range(200):
        block = np.sin(block) ** 2
    return block


def kinds(report: xzarrio.ProfileReport) -> list[str]:
    return [f.kind for f in report.findings]


@pytest.fixture(scope="module")
def field() -> xr.DataArray:
    """Enough work that a profile is not only fixed costs: about a second on one core."""
    return xr.DataArray(np.random.default_rng(0).random((800, 1000)), dims=("y", "x")).chunk(
        {"y": 100}
    )


def test_a_function_that_holds_the_gil_reads_low_and_is_named(field: xr.DataArray) -> None:
    _, report = field.zio.profile(
        lambda da: xr.apply_ufunc(python_loop, da, dask="parallelized").sum("y"),
        num_workers=2,
    )
    assert report.thread_busy_fraction >= 0.6  # the threads had tasks ...
    assert report.parallel_efficiency <= 0.65  # ... but only one ran at a time
    assert "gil-bound" in kinds(report)
    gil = next(f for f in report.findings if f.kind == "gil-bound")
    assert gil.evidence["parallel_efficiency"] == report.parallel_efficiency
    assert "dask='parallelized'" in gil.message and "processes" in gil.message


def test_numpy_that_releases_the_gil_uses_both_cores(field: xr.DataArray) -> None:
    _, report = field.zio.profile(
        lambda da: xr.apply_ufunc(heavy, da, dask="parallelized").sum("y"), num_workers=2
    )
    assert report.wall_seconds >= 0.2
    assert "gil-bound" not in kinds(report)


def test_fewer_chunks_than_threads_is_named(field: xr.DataArray) -> None:
    def work(da: xr.DataArray) -> xr.DataArray:
        return xr.apply_ufunc(heavy, da, dask="parallelized")

    _, report = field.chunk({"y": -1}).zio.profile(work, num_workers=2)
    found = [f for f in report.findings if f.kind == "too-few-chunks"]
    assert found and found[0].evidence["tasks"] == 1 and found[0].evidence["threads"] == 2
    _, report = field.zio.profile(work, num_workers=2)
    assert "too-few-chunks" not in kinds(report)


def test_tiny_tasks_are_named() -> None:
    tiny = xr.DataArray(np.arange(4000.0), dims="t").chunk({"t": 4})
    _, report = tiny.zio.profile(lambda da: (da + 1).sum(), num_workers=2)
    assert "tiny-tasks" in kinds(report)
    big = xr.DataArray(np.random.default_rng(0).random((2000, 500)), dims=("t", "x"))
    _, report = big.chunk({"t": 500}).zio.profile(lambda da: np.sin(da).sum(), num_workers=2)
    assert "tiny-tasks" not in kinds(report)


def test_a_slow_codec_is_named_decode_bound(tmp_path: Path) -> None:
    values = np.random.default_rng(0).normal(size=(4000, 2000)).astype("f4")
    ds = xr.Dataset({"v": (("y", "x"), values)})
    ds.zio.to_zarr(tmp_path / "gzip.zarr", chunks={"y": 250}, compressor="gzip")
    ds.zio.to_zarr(tmp_path / "none.zarr", chunks={"y": 250}, compressor="none")
    _, report = xzarrio.open_zarr(tmp_path / "gzip.zarr").v.zio.reduce("sum", num_workers=2)
    assert report.decode_seconds > 0
    assert "decode-bound" in kinds(report)
    _, report = xzarrio.open_zarr(tmp_path / "none.zarr").v.zio.reduce(
        "mean", dim="y", transform=lambda x: np.sin(x) ** 3, num_workers=2
    )
    assert "decode-bound" not in kinds(report)


def test_the_summary_shows_both_figures_and_the_findings(field: xr.DataArray) -> None:
    _, report = field.chunk({"y": -1}).zio.profile(
        lambda da: xr.apply_ufunc(heavy, da, dask="parallelized"), num_workers=2
    )
    text = report.summary()
    assert "threads busy" in text and "parallel efficiency" in text
    assert "during the compute (process peak" in text
    assert "findings:" in text and "too-few-chunks:" in text
    assert "too-few-chunks" in repr(report)
    assert report.to_dict()["findings"][0]["kind"] == "too-few-chunks"
    assert "<b>too-few-chunks</b>" in report._repr_html_()


def measured(**changes: object) -> Measured:
    base: dict[str, object] = {
        "wall_seconds": 1.0, "threads": 2, "thread_busy_fraction": 0.95,
        "parallel_efficiency": 0.9, "task_seconds": 1.9, "decode_seconds": 0.2,
        "kinds": {"mean_chunk": (8, 1.9)}, "durations": [("mean_chunk", 0.24)] * 8,
    }  # fmt: skip
    return Measured(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"parallel_efficiency": 0.5}, ["gil-bound"]),
        ({"parallel_efficiency": 0.5, "threads": 1}, []),
        ({"parallel_efficiency": 0.4, "thread_busy_fraction": 0.5}, []),
        ({"parallel_efficiency": 0.1}, ["waiting"]),
        ({"parallel_efficiency": 0.15, "threads": 6, "machine_idle_fraction": 0.0}, []),
        ({"kinds": {"sum": (1, 0.9)}}, ["too-few-chunks"]),
        ({"kinds": {"sum": (1, 0.1)}}, []),
        ({"kinds": {"finalize-hlgfinalizecompute": (1, 0.5)}}, []),
        ({"durations": [("mean_chunk", 0.0002)] * 8}, ["tiny-tasks"]),
        ({"durations": [("mean_chunk", 0.0002)] * 8, "parallel_efficiency": 0.4},
         ["tiny-tasks"]),
        ({"durations": [("mean_chunk", 0.2)] * 4 + [("getter", 0.0001)] * 20}, []),
        ({"durations": [("mean_chunk", 0.0002)] * 3}, []),
        ({"parallel_efficiency": 0.5, "wall_seconds": 0.1}, []),
        ({"parallel_efficiency": 0.5, "machine_idle_fraction": 0.05}, []),
        ({"decode_seconds": 1.0}, ["decode-bound"]),
    ],
    ids=["healthy", "gil", "gil, one thread", "gil, threads idle", "waiting",
         "more threads than cores, the machine busy", "one task", "one short task", "finalize",
         "tiny", "tiny, not said gil-bound", "trivial tasks beside real ones", "tiny, few",
         "gil, too short to tell", "gil, the CPU went to other processes", "decode"],
)  # fmt: skip
def test_the_rules_on_numbers(changes: dict[str, object], expected: list[str]) -> None:
    found = find(measured(**changes))
    assert [f.kind for f in found] == expected
    assert all(isinstance(f, Finding) and f.kind in FINDING_KINDS and f.evidence for f in found)


def test_tasks_that_wait_are_named_waiting_not_gil_bound() -> None:
    import time

    def sleepy(block: np.ndarray) -> np.ndarray:
        time.sleep(0.05)
        return block

    field = xr.DataArray(np.zeros((16, 10)), dims=("y", "x")).chunk({"y": 1})
    _, report = field.zio.profile(
        lambda da: xr.apply_ufunc(sleepy, da, dask="parallelized").sum(), num_workers=2
    )
    assert "gil-bound" not in kinds(report)
    assert "waiting" in kinds(report)


def test_the_processes_scheduler_counts_its_childrens_cpu(field: xr.DataArray) -> None:
    _, report = field.zio.profile(
        lambda da: xr.apply_ufunc(heavy, da, dask="parallelized").sum("y"),
        scheduler="processes",
        num_workers=2,
    )
    samples = report.profilers[1].results
    assert all(sample.cpu >= 0 for sample in samples)
    assert report.parallel_efficiency >= 0.5
    assert "gil-bound" not in kinds(report)


def test_a_report_pickles_with_its_numbers(field: xr.DataArray) -> None:
    import copy
    import pickle

    _, report = field.zio.profile(lambda da: da.sum(), num_workers=2)
    back = pickle.loads(pickle.dumps(report))
    assert back.to_dict() == report.to_dict() and back.profilers == ()
    assert copy.deepcopy(report).to_dict() == report.to_dict()
