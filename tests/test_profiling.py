"""Profiled computes: .zio.profile, .zio.reduce, .zio.graph and the ProfileReport."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import psutil
import pytest
import xarray as xr

import xzarrio
from xzarrio.profiling import REDUCTIONS


@pytest.fixture(scope="module")
def lazy(tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    """A store of 600 × 500 float64 in 6 stored chunks, reopened lazily."""
    rng = np.random.default_rng(1)
    ds = xr.Dataset({"wvel": (("y", "x"), rng.normal(2, 1, (600, 500)))})
    path = tmp_path_factory.mktemp("profile") / "s.zarr"
    ds.zio.to_zarr(path, chunks={"y": 100})
    return xzarrio.open_zarr(path)


def classic(x):  # type: ignore[no-untyped-def]
    return x**2 + x**3


T = TypeVar("T")

#: psutil reads CPU time in ticks of 1/100 s, user and system time each rounded down: a
#: difference of two readings is within two ticks of the exact one (one more for margin)
TICKS = 0.03

#: a known workload: each task uses this much of its own thread's CPU, then sleeps this long
BURN, SLEEP = 0.05, 0.05


def measured_around(call: Callable[[], T]) -> tuple[T, float, float]:
    """What *call* returns, and the CPU seconds (all of this process's threads) and the
    wall seconds it took, measured here rather than by the profile."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def burn_then_sleep(block: np.ndarray) -> np.ndarray:
    """Use ``BURN`` s of this thread's CPU, however busy the machine, then sleep ``SLEEP`` s."""
    end = time.thread_time() + BURN
    while time.thread_time() < end:
        pass
    time.sleep(SLEEP)
    return block


@contextmanager
def two_threads(where: str) -> Iterator[dict[str, Any]]:
    """The keywords that profile on two threads: local ones, or a Client's."""
    if where == "threads":
        yield {"scheduler": "threads", "num_workers": 2}
        return
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            yield {"scheduler": client}


@pytest.mark.parametrize("how", REDUCTIONS)
def test_every_named_reduction_equals_xarrays_own(lazy: xr.Dataset, how: str) -> None:
    result, report = lazy.wvel.zio.reduce(how, dim="y", transform=classic, num_workers=2)
    expected = getattr(classic(lazy.wvel), how)(dim="y").compute()
    xr.testing.assert_allclose(result, expected)
    assert not hasattr(result.data, "dask")  # computed, not lazy
    assert report.n_tasks > 0


def test_callable_reduction_and_all_dims(lazy: xr.Dataset) -> None:
    result, _ = lazy.zio.reduce(np.nanmax)
    assert float(result.wvel) == pytest.approx(float(lazy.wvel.max()))
    assert result.wvel.dims == ()


def test_report_fields_agree_with_each_other(lazy: xr.Dataset) -> None:
    rss = psutil.Process().memory_info().rss
    (_, report), cpu, wall = measured_around(
        lambda: lazy.wvel.zio.reduce("mean", dim="y", transform=classic, num_workers=2)
    )
    profiler, resources, cache = report.profilers
    assert report.n_tasks == len(profiler.results)
    assert report.n_tasks == sum(kind.count for kind in report.tasks_by_function.values())
    assert report.task_seconds == pytest.approx(
        sum(t.end_time - t.start_time for t in profiler.results)
    )
    assert report.task_seconds == pytest.approx(
        sum(k.seconds for k in report.tasks_by_function.values())
    )
    capacity = report.wall_seconds * report.n_threads
    # no more CPU than the process took around the call, in no more wall time
    assert 0 < report.wall_seconds <= wall
    assert 0 < report.parallel_efficiency * capacity <= cpu + TICKS
    assert 0 < report.cpu_seconds <= cpu + TICKS
    assert report.mean_cpu_percent * report.wall_seconds <= 100 * (cpu + TICKS)
    # the tasks overlap no more than the threads, within the wall time seen here
    assert report.task_seconds <= capacity
    assert report.thread_busy_fraction >= report.task_seconds / (report.n_threads * wall)
    # the increase counts from what the process held when the compute began
    assert report.peak_memory_bytes - report.memory_increase_bytes == pytest.approx(rss, rel=0.1)
    one_chunk = 100 * 500 * 8
    assert report.peak_memory_bytes > one_chunk
    assert 1 <= report.n_threads <= 2
    assert len(resources.results) >= 2  # sampled at the start and at the end at least
    assert cache.results


@pytest.mark.parametrize("where", ["threads", "client"])
def test_a_known_workload_bounds_the_figures(where: str) -> None:
    """Eight tasks on two threads, each using ``BURN`` s of its thread's CPU and then
    sleeping ``SLEEP`` s. Another process can stretch the wall time and the task time but
    not lower the CPU the tasks used: every figure is bounded by that work and by the CPU
    and the wall time measured around the call."""
    work = xr.DataArray(np.zeros((8, 4)), dims=("t", "x")).chunk({"t": 1})
    with two_threads(where) as kwargs:
        (_, report), cpu, wall = measured_around(
            lambda: work.zio.profile(
                lambda da: xr.apply_ufunc(burn_then_sleep, da, dask="parallelized"), **kwargs
            )
        )
    used = 8 * BURN - TICKS  # the tasks' CPU, less what reading it in ticks can lose
    assert report.n_threads == 2 and report.wall_seconds <= wall
    assert report.task_seconds >= 8 * (BURN + SLEEP)
    assert report.thread_busy_fraction >= 8 * (BURN + SLEEP) / (2 * wall)
    assert used <= report.cpu_seconds <= cpu + TICKS
    assert report.parallel_efficiency >= used / (2 * wall)
    assert report.mean_cpu_percent >= 100 * used / wall


def test_synchronous_scheduler_uses_one_thread(lazy: xr.Dataset) -> None:
    _, report = lazy.wvel.zio.reduce("sum", dim="y", scheduler="synchronous")
    assert report.n_threads == 1
    assert report.scheduler == "synchronous"
    assert 0 < report.parallel_efficiency <= 1


def test_gil_releasing_function_runs_on_two_threads() -> None:
    field = xr.DataArray(np.random.default_rng(0).random((4000, 400)), dims=("y", "x")).chunk(
        {"y": 250}
    )
    result, report = field.zio.profile(
        lambda da: xr.apply_ufunc(np.sin, da, dask="parallelized").sum("y"), num_workers=2
    )
    xr.testing.assert_allclose(result, xr.ufuncs.sin(field).sum("y").compute())
    assert report.n_threads == 2


def test_processes_scheduler(lazy: xr.Dataset) -> None:
    result, report = lazy.wvel.zio.reduce("max", dim="x", scheduler="processes", num_workers=2)
    xr.testing.assert_allclose(result, lazy.wvel.max("x").compute())
    assert report.n_tasks > 0


def test_summary_has_a_row_per_task_kind(lazy: xr.Dataset) -> None:
    _, report = lazy.wvel.zio.reduce("std", dim="y", transform=classic)
    text = report.summary()
    rows = text.splitlines()
    for name, kind in report.tasks_by_function.items():
        assert any(row.split()[:1] == [name] and str(kind.count) in row for row in rows), name
    assert "parallel efficiency" in text and "process peak" in text
    assert str(report) == text
    assert "<table>" in report._repr_html_()


def test_to_dict_round_trips_through_json(lazy: xr.Dataset) -> None:
    _, report = lazy.wvel.zio.reduce("mean", dim="y")
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["n_tasks"] == report.n_tasks
    assert set(data["tasks_by_function"]) == set(report.tasks_by_function)


def test_save_html_is_a_bokeh_page(lazy: xr.Dataset, tmp_path: Path) -> None:
    pytest.importorskip("bokeh")
    _, report = lazy.wvel.zio.reduce("mean", dim="y", transform=classic)
    path = report.save_html(tmp_path / "out" / "profile.html")
    text = path.read_text()
    assert path == tmp_path / "out" / "profile.html"
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert "Bokeh" in text and "bokeh" in text
    assert "Memory" in text or "memory" in text
    # self-contained: BokehJS is inlined, so the page draws offline too
    assert "cdn.bokeh.org" not in text and len(text) > 500_000


def test_save_html_without_bokeh_names_it(
    lazy: xr.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, report = lazy.wvel.zio.reduce("mean", dim="y")
    monkeypatch.setitem(sys.modules, "bokeh", None)
    with pytest.raises(ImportError, match=r"pip install 'xzarrio\[profile\]'"):
        report.save_html(tmp_path / "p.html")


def test_graph_writes_svg(lazy: xr.Dataset, tmp_path: Path) -> None:
    pytest.importorskip("graphviz")
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("the Graphviz 'dot' program is not installed")
    path = lazy.wvel.zio.graph(
        lambda da: classic(da).mean("y"), filename=tmp_path / "g" / "graph.svg"
    )
    assert path == tmp_path / "g" / "graph.svg"
    text = path.read_text()
    assert "<svg" in text and "</svg>" in text


def test_graph_without_graphviz_names_what_to_install(
    lazy: xr.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match="pip install graphviz") as info:
        lazy.wvel.zio.graph(filename=tmp_path / "g.svg")
    assert isinstance(info.value, xzarrio.errors.MissingDependencyError)


def test_graph_without_dot_names_it(
    lazy: xr.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("graphviz")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImportError, match="Graphviz 'dot' program"):
        lazy.wvel.zio.graph(filename=tmp_path / "g.svg")


def test_graph_of_in_memory_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to draw: the object holds no dask graph"):
        xr.DataArray(np.ones(3)).zio.graph(filename=tmp_path / "g.svg")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"how": "mode"},
            r"unknown reduction 'mode'; expected one of \['mean', 'sum'",
            id="unknown-reduction",
        ),
        pytest.param(
            {"how": 3}, r"how must be a reduction name or a callable, got 3", id="not-callable"
        ),
        pytest.param(
            {"how": "mean", "dim": "depth"}, r"cannot reduce over \['depth'\]", id="unknown-dim"
        ),
        pytest.param(
            {"how": "mean", "scheduler": "gpu"}, r"unknown scheduler 'gpu'", id="unknown-scheduler"
        ),
        pytest.param(
            {"how": "mean", "num_workers": 0},
            r"num_workers must be an integer >= 1",
            id="zero-workers",
        ),
        pytest.param({"how": "mean", "dt": 0}, r"dt must be a number of seconds > 0", id="zero-dt"),
    ],
)
def test_bad_arguments(lazy: xr.Dataset, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lazy.wvel.zio.reduce(**kwargs)


def test_a_profile_on_a_client_fills_the_same_fields(lazy: xr.Dataset, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            (result, report), cpu, wall = measured_around(
                lambda: lazy.wvel.zio.reduce("mean", dim="y", transform=classic, scheduler=client)
            )
            page = report.save_html(tmp_path / "cluster.html").read_text()
    assert "Dask Performance Report" in page
    with pytest.raises(ValueError, match="save the page before closing the Client"):
        report.save_html(tmp_path / "late.html")
    xr.testing.assert_allclose(result, classic(lazy.wvel).mean("y").compute())
    assert report.scheduler == "distributed" and report.n_threads == 2
    assert report.n_tasks == sum(k.count for k in report.tasks_by_function.values()) > 6
    assert "mean_chunk" in report.tasks_by_function
    assert report.task_seconds > 0 and report.cpu_seconds > 0
    # the workers are threads of this process: their CPU is part of what it took
    capacity = report.wall_seconds * report.n_threads
    assert 0 < report.parallel_efficiency * capacity <= cpu + TICKS
    assert report.wall_seconds <= wall and report.task_seconds <= capacity
    assert report.thread_busy_fraction >= report.task_seconds / (report.n_threads * wall)
    assert report.peak_memory_bytes > 0 and report.memory_increase_bytes >= 0
    picture = report.save_figure(tmp_path / "cluster.svg").read_text()
    assert "mean_chunk" in picture


def test_a_client_profile_of_data_in_memory_and_num_workers(lazy: xr.Dataset) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            result, report = xr.DataArray(np.arange(10.0)).zio.profile(lambda d: d.sum())
            assert float(result) == 45.0 and report.scheduler == "distributed"
            with pytest.raises(ValueError, match=r"num_workers=1 sets local threads"):
                lazy.wvel.zio.reduce("sum", num_workers=1)
            # two workers in one process: the process's memory is counted once
            _, report = lazy.wvel.zio.reduce("sum", dim="y", scheduler=client)
            import psutil

            assert report.peak_memory_bytes <= 1.2 * psutil.Process().memory_info().rss


def test_the_active_client_is_used_by_default(lazy: xr.Dataset) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster):
            _, report = lazy.wvel.zio.reduce("sum", dim="y")
            assert report.scheduler == "distributed"
            _, local = lazy.wvel.zio.reduce("sum", dim="y", scheduler="threads")
            assert local.scheduler == "threads"


def test_profile_without_func_computes_the_object(lazy: xr.Dataset) -> None:
    result, report = lazy.zio.profile()
    xr.testing.assert_identical(result, lazy.compute())
    assert report.n_tasks >= 6
    assert xzarrio.Profiled(result, report) == (result, report)


def test_the_timeline_colours_tasks_by_kind_with_a_legend(lazy: xr.Dataset, tmp_path: Path) -> None:
    pytest.importorskip("bokeh")
    from xzarrio.profiling.timeline import bars_of

    _, report = lazy.wvel.zio.reduce("mean", dim="y", transform=classic, num_workers=2)
    tasks = report.profilers[0].results
    bars, colours = bars_of(tasks, min(t.start_time for t in tasks))
    assert set(colours) == {bar.kind for bar in bars} == set(report.tasks_by_function)
    assert len(set(colours.values())) == len(colours)  # one colour per kind, not per task
    assert any(bar.chunk.startswith("(") for bar in bars)
    page = report.save_html(tmp_path / "p.html").read_text()
    for kind in report.tasks_by_function:
        assert kind in page  # in the legend
    assert "@chunk" in page and "@ms" in page  # the hover says kind, duration, chunk


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_a_static_picture_is_saved_without_a_display(
    lazy: xr.Dataset, tmp_path: Path, suffix: str
) -> None:
    pytest.importorskip("matplotlib")
    _, report = lazy.wvel.zio.reduce("mean", dim="y", transform=classic, num_workers=2)
    path = report.save_figure(tmp_path / f"profile{suffix}")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data[:2000]
    if suffix == ".svg":
        assert b"mean_chunk" in data  # the legend names the kinds


def test_a_static_picture_in_another_format_is_refused(lazy: xr.Dataset, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _, report = lazy.wvel.zio.reduce("mean", dim="y")
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf"):
        report.save_figure(tmp_path / "profile.gif")
