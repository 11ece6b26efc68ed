"""The concurrency table: writers and readers of one store at the same time.

Each row runs real processes (or threads, for readers in this process) against
one local store and asserts that nothing is lost or wrong: concurrent writers
are serialised and each accepted or refused with xzarrio's own error, readers
get consistent data or :class:`xzarrio.errors.StoreChangedError`.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

import xzarrio
from xzarrio.errors import InvalidArgumentError, StoreChangedError, XzarrioError

from .conftest import snapshot

ROWS, COLS = 8, 6
_SPAWN = multiprocessing.get_context("spawn")


def _step(start: int, rows: int = ROWS, value: float | None = None) -> xr.Dataset:
    """*rows* time steps from *start*; every value is the step's time (or *value*)."""
    t = np.arange(start, start + rows)
    values = np.repeat(t[:, None], COLS, axis=1).astype("f8") if value is None else None
    if values is None:
        values = np.full((rows, COLS), value)
    return xr.Dataset(
        {"v": (("t", "x"), values), "w": (("t",), t.astype("f8"))},
        coords={"t": t, "x": np.arange(COLS)},
    )


def _outcome(error: BaseException | None) -> str:
    """``ok``, the xzarrio error's class name, or ``foreign: ...`` for anything else."""
    if error is None:
        return "ok"
    if isinstance(error, XzarrioError):
        return type(error).__name__
    return f"foreign: {type(error).__name__}: {error}"


def _in_process(job: str, path: str, start: Any, results: Any, *args: Any) -> None:
    """Run *job* (a function of this module) when *start* lets every process go."""
    try:
        start.wait(120)
    except threading.BrokenBarrierError:
        results.put(("broken", ""))
        return
    for outcome in globals()[job](path, *args):
        results.put(outcome)


def _appends(path: str, first: int, count: int) -> list[tuple[str, str]]:
    outcomes = []
    for k in range(count):
        try:
            _step(first + k * ROWS).zio.to_zarr(path, append_dim="t")
            outcomes.append(("append", "ok"))
        except Exception as error:
            outcomes.append(("append", _outcome(error) + "\n" + traceback.format_exc()))
    return outcomes


def _region_writes(path: str, count: int) -> list[tuple[str, str]]:
    outcomes = []
    for k in range(count):
        try:
            data = _step(0, value=float(k)).drop_vars(["t", "x"])
            data.zio.to_zarr(path, region={"t": slice(0, ROWS)})
            outcomes.append(("region", "ok"))
        except Exception as error:
            outcomes.append(("region", _outcome(error) + "\n" + traceback.format_exc()))
    return outcomes


def _run_processes(jobs: list[tuple[Any, ...]], timeout: float = 300) -> list[tuple[str, str]]:
    """Run each ``(job, path, *args)`` in its own process, all let go at once."""
    results = _SPAWN.Queue()
    start = _SPAWN.Barrier(len(jobs))
    processes = [
        _SPAWN.Process(target=_in_process, args=(job, path, start, results, *args))
        for job, path, *args in jobs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout)
        assert process.exitcode == 0, f"a writer process ended with {process.exitcode}"
    outcomes = []
    while not results.empty():
        outcomes.append(results.get())
    return outcomes


@pytest.mark.slow
def test_four_processes_appending_the_same_values_one_is_accepted(tmp_path: Path) -> None:
    path = str(tmp_path / "s.zarr")
    _step(0).zio.to_zarr(path, chunks={"t": 4})
    outcomes = _run_processes([("_appends", path, ROWS, 1)] * 4)
    kinds = Counter(outcome.split("\n")[0] for _, outcome in outcomes)
    assert kinds == {"ok": 1, "AppendMismatchError": 3}, outcomes
    stored = xr.open_zarr(path)
    np.testing.assert_array_equal(stored.t.values, np.arange(2 * ROWS))
    np.testing.assert_array_equal(stored.v.values[:, 0], np.arange(2 * ROWS))


def _check_whole(ds: xr.Dataset) -> None:
    """A reader's load of the appending store: whole appends of distinct times, every
    row holding its own time, or a region writer's one value across the first rows."""
    t = ds.t.values
    assert len(set(t)) == len(t) and len(t) % ROWS == 0, t
    assert (np.diff(t.reshape(-1, ROWS), axis=1) == 1).all(), t
    assert np.array_equal(ds.w.values[ROWS:], t[ROWS:])
    v = ds.v.values
    head = v[:ROWS]
    assert (head == head.flat[0]).all() or np.array_equal(head[:, 0], t[:ROWS]), head
    assert np.array_equal(v[ROWS:, 0], t[ROWS:]), v[ROWS:, 0]
    assert (v[ROWS:] == v[ROWS:, :1]).all()


def _read_until(path: str, stop: threading.Event, outcomes: list[str]) -> None:
    while not stop.is_set():
        try:
            with xzarrio.open_zarr(path) as ds:
                _check_whole(ds.load())
            outcomes.append("whole")
        except StoreChangedError:
            outcomes.append("StoreChangedError")
        except Exception as error:
            outcomes.append(f"{_outcome(error)}\n{traceback.format_exc()}")


@pytest.mark.slow
def test_appends_region_writes_and_readers_at_once(tmp_path: Path) -> None:
    """Four processes each appending five times, one region writer, two readers."""
    path = str(tmp_path / "s.zarr")
    _step(0).zio.to_zarr(path, chunks={"t": 4})
    stop = threading.Event()
    reads: list[str] = []
    readers = [threading.Thread(target=_read_until, args=(path, stop, reads)) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        jobs = [("_appends", path, ROWS * (1 + 5 * k), 5) for k in range(4)]
        outcomes = _run_processes([*jobs, ("_region_writes", path, 5)])
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    foreign = [o for _, o in outcomes if not o.startswith(("ok", "AppendMismatchError"))]
    assert not foreign, foreign
    assert not [r for r in reads if r not in ("whole", "StoreChangedError")]
    assert reads.count("whole") > 0
    with xzarrio.open_zarr(path) as ds:
        _check_whole(ds.load())
        assert ds.sizes["t"] == ROWS * (1 + sum(o == "ok" for k, o in outcomes if k == "append"))


def _replaces(path: str, count: int) -> list[tuple[str, str]]:
    for k in range(count):
        # each store has another dtype and chunking: a mix is garbage, not a near value
        dtype, chunk = ("f8", 4) if k % 2 else ("f4", 3)
        data = _step(0, value=float(k + 1))
        data["v"] = data.v.astype(dtype)
        data.zio.to_zarr(path, mode="w", chunks={"t": chunk})
    return [("replace", "ok")]


def _fill(path: str, first: int, count: int) -> list[tuple[str, str]]:
    """Region writes of *count* blocks of ROWS rows from row *first* of a template."""
    outcomes = []
    for k in range(count):
        start = first + k * ROWS
        try:
            part = _step(start).drop_vars(["t", "x"])
            part.zio.to_zarr(path, region={"t": slice(start, start + ROWS)})
            outcomes.append(("region", "ok"))
        except Exception as error:
            outcomes.append(("region", _outcome(error) + "\n" + traceback.format_exc()))
    return outcomes


@pytest.mark.slow
def test_four_processes_fill_a_deferred_template(tmp_path: Path) -> None:
    """The template of ``compute=False``, its fill dropped, filled by four processes."""
    path = str(tmp_path / "s.zarr")
    whole = _step(0, rows=4 * 3 * ROWS).chunk({"t": ROWS})
    whole.zio.to_zarr(path, compute=False)  # the template; its own fill never runs
    outcomes = _run_processes([("_fill", path, 3 * ROWS * k, 3) for k in range(4)])
    assert [o for _, o in outcomes] == ["ok"] * 12, outcomes
    stored = xzarrio.open_zarr(path).load()
    xr.testing.assert_equal(stored, whole.load())
    assert xzarrio.verify(path).ok


@pytest.mark.slow
def test_readers_during_replaces_never_see_a_mix(tmp_path: Path) -> None:
    path = str(tmp_path / "s.zarr")
    _step(0, value=0.0).zio.to_zarr(path, chunks={"t": 3})
    outcomes: Counter[str] = Counter()
    done = threading.Event()

    def replace_ten_times() -> None:
        _replaces(path, 10)
        done.set()

    writer = threading.Thread(target=replace_ten_times)
    writer.start()
    while not done.is_set() or not outcomes:
        try:
            ds = xzarrio.open_zarr(path)
            time.sleep(0.01)  # a replace may land between the open and the load
            values = ds.v.values
            one = np.unique(values)
            outcomes["whole" if len(one) == 1 else f"mixed {one}"] += 1
        except StoreChangedError:
            outcomes["StoreChangedError"] += 1
    writer.join()
    assert set(outcomes) <= {"whole", "StoreChangedError"}, outcomes
    assert outcomes["StoreChangedError"] > 0, outcomes  # the row did race


# ------------------------------------------------ a write fed from the store it writes


def _source(tmp_path: Path) -> tuple[str, xr.Dataset]:
    path = str(tmp_path / "s.zarr")
    _step(0, rows=40).zio.to_zarr(path, chunks={"t": 4})
    return path, xzarrio.open_zarr(path)


def test_a_replace_fed_from_its_own_store_keeps_the_data(tmp_path: Path) -> None:
    path, src = _source(tmp_path)
    (src * 2).zio.to_zarr(path, mode="w")
    np.testing.assert_array_equal(xr.open_zarr(path).w.values, 2 * np.arange(40.0))


def test_a_deferred_replace_fed_from_its_own_store_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    path, src = _source(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(InvalidArgumentError, match="compute=False the store would be replaced"):
        src.zio.to_zarr(path, mode="w", compute=False)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("compute", [True, False], ids=["now", "deferred"])
@pytest.mark.parametrize("shift", [0, 2, 4, 10], ids=lambda s: f"shift{s}")
def test_a_region_write_fed_from_its_own_store(tmp_path: Path, shift: int, compute: bool) -> None:
    """The source is read before any of it is overwritten, whatever the shift."""
    path, src = _source(tmp_path)
    part = src.isel(t=slice(0, 24)).drop_vars(["t", "x"])
    written = part.zio.to_zarr(path, region={"t": slice(shift, shift + 24)}, compute=compute)
    if not compute:
        written.compute()
    expected = np.arange(40.0)
    expected[shift : shift + 24] = np.arange(24.0)
    stored = xr.open_zarr(path)
    np.testing.assert_array_equal(stored.w.values, expected)
    np.testing.assert_array_equal(stored.v.values[:, 0], expected)
    assert xzarrio.verify(path).ok


def test_an_append_fed_from_its_own_store(tmp_path: Path) -> None:
    path, src = _source(tmp_path)
    tail = src.isel(t=slice(30, 40))
    tail.assign_coords(t=tail.t + 10).zio.to_zarr(path, append_dim="t")
    stored = xr.open_zarr(path)
    np.testing.assert_array_equal(stored.w.values, np.r_[np.arange(40.0), np.arange(30.0, 40)])


def test_a_variable_added_from_the_store_it_is_added_to(tmp_path: Path) -> None:
    """The data read arrays the write does not change: read while it runs."""
    path, src = _source(tmp_path)
    src[["w"]].rename(w="w2").assign(w2=lambda d: d.w2 + 1).zio.to_zarr(path, mode="a")
    stored = xr.open_zarr(path)
    np.testing.assert_array_equal(stored.w2.values, np.arange(40.0) + 1)
    np.testing.assert_array_equal(src.w.values, np.arange(40.0))  # still reads


def test_a_region_write_beside_another_writers_key_write_warns_of_nothing(
    tmp_path: Path,
) -> None:
    """Region writers stamp the root's attributes side by side. zarr writes a key as
    a ``.partial`` file and renames it, and a listing of the group in that moment
    (xarray lists it before a region write) made zarr warn that such a file is no
    node of the hierarchy: once per write, in every process filling a template."""
    path = tmp_path / "s.zarr"
    _step(0, value=0.0).zio.to_zarr(path)
    (path / "zarr.0123456789abcdef0123456789abcdef.partial").write_bytes(b"{")  # in flight
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = _step(0, value=1.0).drop_vars(["t", "x"])
        data.zio.to_zarr(path, region={"t": slice(0, ROWS)})
    assert [str(w.message) for w in caught if "not recognized" in str(w.message)] == []
