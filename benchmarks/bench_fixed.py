"""Fixed costs: the writes a scientist repeats thousands of times, each against xarray's own.

Four writes, each timed against xarray's ``to_zarr`` of the same data in the
same run; the figure is ours ÷ xarray's median time (above 1: slower):

* ``seed``: the seed field written whole to a new store, ``Config.shape`` in
  stored chunks of ``Config.chunk_rows`` rows: the write section's anchors
  ``xzarrio`` and ``xarray (numpy)``, timed here as pairs (the figure the fixed
  costs below sit on);
* ``region``: one stored chunk overwritten in an existing store: 2000 x 7500
  float32 in stored chunks of 250 rows (quick: 500 x 750 in chunks of 125).
  Each writer gets its own store, made once and untimed (ours by
  ``.zio.to_zarr``, xarray's by ``to_zarr``); each timed call writes one
  stored chunk's rows, ``region={"y": slice(a, b)}`` (xarray: ``mode="r+"``),
  the chunk moving on from call to call;
* ``append``: one time step appended along ``time`` to an existing store of
  10 steps of 1000 x 750 float32 (quick: 100 x 75), one step per stored
  chunk, with its ``time`` coordinate;
* ``append_long``: the same to a store that a year of daily appends has made
  long: 2000 steps of 100 x 75 (quick: 200 of 20 x 15), one chunk each;
* ``small``: a new store of 100 x 100 float32 with ``y`` and ``x``
  coordinates, written to a fresh path (removed after each call, untimed);
* ``fill``: the pangeo pattern, many processes filling one template: a new
  store of ``FILL`` steps of 200 x 750 float32 made with ``compute=False``
  (untimed, made again before each call), then filled by one region write per
  step from a pool of processes (as many as cores, at least 2), started and
  warmed before the timing; the figure is the wall time of the whole fill.

xzarrio writes with its defaults: zstd level 3 (with its crc32c checksum),
provenance attributes, consolidated metadata. xarray gets zstd level 3 on
every variable, zarr format 3 and consolidated metadata: the same data,
encoded the same way, without xzarrio's features, whose cost is part of the
figure. The data are numpy arrays, so xarray's ``safe_chunks`` has nothing to
check.

Each writer's first output is read back and compared with what it should hold
(untimed). Then the calls run as adjacent pairs, the order alternating from
pair to pair (:func:`common.interleaved` with two contenders): at least 11
pairs (quick: 5); after each call its output is cleaned up where it is new and
dirty pages are written back (untimed). The medians of each, and beside the
ratio of medians the median of the per-pair ratios; at the end both stores of
a region or append must hold the same values.

The limit beside them is the floor of each call: its chunks encoded by
zstd-3 (numcodecs, one thread) and written to files, no zarr, no metadata:
what any writer pays; for the seed write, the write section's "by hand" rate
on all cores. The section calls only the public ``.zio.to_zarr``, so it also
runs against an older xzarrio, for before/after comparisons.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
import zarr.codecs
from bench_write import XR_NUMPY, ZIO, _time_writes, anchors, by_hand_rate, read_back
from steps import STEP_NAMES, step_clock

from xzarrio.codecs import resolve_compressors

from common import (
    Config,
    flush,
    interleaved,
    median,
    quiet,
    remove,
    seed_field,
    table,
    timed,
)

XR = XR_NUMPY
#: the region store: rows, columns, stored chunk rows
REGION = (2000, 7500, 250)
REGION_QUICK = (500, 750, 125)
#: one appended time step: rows, columns; the store starts with STEPS of them
STEP = (1000, 750)
STEP_QUICK = (100, 75)
STEPS = 10
#: the long store an append goes to: steps, and each step's rows and columns
LONG = (2000, (100, 75))
LONG_QUICK = (200, (20, 15))
SMALL = (100, 100)
#: the template the processes fill: steps, rows, columns (one stored chunk a step)
FILL = (64, 200, 750)
FILL_QUICK = (8, 20, 75)


def pairs(cfg: Config) -> int:
    """How many adjacent pairs each write is timed in: odd, so one pair is the median."""
    return 5 if cfg.quick else max(11, 2 * cfg.repeats + 1)


def encoding(ds: xr.Dataset, chunks: dict[str, tuple[int, ...]]) -> dict[str, dict[str, Any]]:
    """xarray's encoding for *ds*: zstd-3 on every variable, *chunks* where given."""
    enc: dict[str, dict[str, Any]] = {}
    for name in ds.variables:
        enc[str(name)] = {"compressors": (zarr.codecs.ZstdCodec(level=3),)}
        if name in chunks:
            enc[str(name)]["chunks"] = chunks[str(name)]
    return enc


def xr_new(ds: xr.Dataset, path: Path, chunks: dict[str, tuple[int, ...]], **kw: Any) -> Any:
    return ds.to_zarr(path, encoding=encoding(ds, chunks), zarr_format=3, consolidated=True, **kw)


def region_write(name: str, ds: xr.Dataset, path: Path | str, where: dict[str, slice]) -> None:
    """*ds* written to the region *where* of *path*: by xzarrio, or by xarray."""
    with quiet():
        if name == ZIO:
            ds.zio.to_zarr(path, region=where)
        else:
            ds.to_zarr(path, region=where, mode="r+")


def floor_seconds(cfg: Config, blocks: list[np.ndarray]) -> float:
    """Median seconds of encoding *blocks* with zstd-3 on one thread, each to its own file."""
    (codec,) = resolve_compressors("zstd", 2)  # the numcodecs twin of zarr's ZstdCodec
    folder = cfg.path("fixed-floor")

    def write() -> None:
        folder.mkdir()
        for i, block in enumerate(blocks):
            (folder / str(i)).write_bytes(codec.encode(block))

    seconds = []
    for _ in range(max(pairs(cfg), 3)):
        seconds.append(timed(write))
        remove(folder)
        flush()
    return median(seconds)


def paired(
    cfg: Config, runs: dict[str, Callable[[], Any]], after: Callable[[str], Any]
) -> dict[str, Any]:
    """Time the two *runs* as adjacent pairs, order alternating; medians and ratios, and
    the median milliseconds of each step of ours (:mod:`steps`), where it can be timed."""
    with step_clock() as clock:
        seconds = interleaved(runs, pairs(cfg), warmup=0, after=after)
    out = figures_of(seconds)
    if clock is not None and clock.calls:
        out["zio_steps_ms"] = clock.medians_ms()
    return out


def figures_of(seconds: dict[str, list[float]]) -> dict[str, Any]:
    ours, theirs = seconds[ZIO], seconds[XR]
    return {
        "seconds": seconds,
        "zio_median_s": median(ours),
        "xarray_median_s": median(theirs),
        "over_xarray": median(ours) / median(theirs),
        "over_xarray_per_pair_median": median([o / t for o, t in zip(ours, theirs, strict=True)]),
    }


def _after(_name: str) -> None:
    flush()


def _same(name: str, got: np.ndarray, expected: np.ndarray) -> None:
    if got.shape != expected.shape or not np.array_equal(got, expected):
        raise SystemExit(f"{name}: the data read back differ from the data written")


# --------------------------------------------------------------------------- the writes


def seed(cfg: Config) -> dict[str, Any]:
    """The seed write, with the write section's two anchors and its checks."""
    data = seed_field(cfg.shape, cfg.seed)
    writes = {k: v for k, v in anchors(data, cfg.chunk_shape).items() if k in (ZIO, XR)}
    seconds, _stored = _time_writes(replace(cfg, repeats=pairs(cfg)), writes, data, "fixed-seed")
    out = figures_of(seconds)
    out["shape"], out["chunks"] = list(data.shape), list(cfg.chunk_shape)
    out["floor_s"] = data.nbytes / 1e6 / by_hand_rate(cfg, data, "zstd")
    return out


def region(cfg: Config) -> dict[str, Any]:
    """One stored chunk overwritten per call, in each writer's own existing store."""
    rows, cols, chunk = REGION_QUICK if cfg.quick else REGION
    before = seed_field((rows, cols), cfg.seed)
    after = seed_field((rows, cols), cfg.seed + 1)
    new = xr.Dataset({"wvel": (("y", "x"), after)})
    starts = list(range(0, rows, chunk))
    blocks = [new.isel(y=slice(a, a + chunk)) for a in starts]
    paths = {ZIO: cfg.path("fixed-region-zio.zarr"), XR: cfg.path("fixed-region-xarray.zarr")}
    old = xr.Dataset({"wvel": (("y", "x"), before)})
    written: dict[str, set[int]] = {ZIO: set(), XR: set()}

    def writer(name: str) -> Callable[[], None]:
        calls = itertools.count()
        path = paths[name]

        def write() -> None:
            i = next(calls) % len(starts)
            region_write(name, blocks[i], path, {"y": slice(starts[i], starts[i] + chunk)})
            written[name].add(i)

        return write

    def expected(name: str) -> np.ndarray:
        rows_written = np.zeros(rows, dtype=bool)
        for i in written[name]:
            rows_written[starts[i] : starts[i] + chunk] = True
        return np.where(rows_written[:, None], after, before)

    try:
        with quiet():
            old.zio.to_zarr(paths[ZIO], chunks={"y": chunk}, compressor="zstd")
            xr_new(old, paths[XR], {"wvel": (chunk, cols)})
        runs = {name: writer(name) for name in paths}
        for name, run_once in runs.items():
            run_once()
            _same(name, read_back(paths[name]), expected(name))
        flush()
        out = paired(cfg, runs, _after)
        for name in paths:
            _same(name, read_back(paths[name]), expected(name))
    finally:
        for path in paths.values():
            remove(path)
    out["shape"], out["chunks"] = [rows, cols], [chunk, cols]
    out["floor_s"] = floor_seconds(cfg, [np.ascontiguousarray(after[:chunk])])
    return out


def steps(cfg: Config, first: int, count: int, size: tuple[int, int]) -> xr.Dataset:
    """*count* time steps of *size* from step *first* on, one a day from 2000-01-01."""
    rows, cols = size
    values = seed_field((count * rows, cols), cfg.seed + first).reshape(count, rows, cols)
    days = np.arange(first, first + count).astype("timedelta64[D]")
    return xr.Dataset(
        {"wvel": (("time", "y", "x"), values)},
        coords={"time": np.datetime64("2000-01-01", "ns") + days},
    )


def append(cfg: Config) -> dict[str, Any]:
    """One time step appended per call to each writer's own store of :data:`STEPS` steps."""
    return appended(cfg, STEPS, STEP_QUICK if cfg.quick else STEP)


def append_long(cfg: Config) -> dict[str, Any]:
    """One time step appended per call to each writer's own long store (:data:`LONG`)."""
    count, size = LONG_QUICK if cfg.quick else LONG
    return appended(cfg, count, size)


def appended(cfg: Config, before: int, size: tuple[int, int]) -> dict[str, Any]:
    """One step of *size* appended per call to each writer's own store of *before* steps."""
    rows, cols = size
    start = steps(cfg, 0, before, size)
    n = 1 + pairs(cfg)  # the checked append, then the timed ones
    added = [steps(cfg, before + k, 1, size) for k in range(n)]
    paths = {ZIO: cfg.path("fixed-append-zio.zarr"), XR: cfg.path("fixed-append-xarray.zarr")}

    def writer(name: str) -> Callable[[], None]:
        calls = itertools.count()
        path = paths[name]

        def write() -> None:
            step = added[next(calls)]
            with quiet():
                if name == ZIO:
                    step.zio.to_zarr(path, append_dim="time")
                else:
                    step.to_zarr(path, append_dim="time")

        return write

    def check(name: str, count: int) -> None:
        want = xr.concat([start, *added[:count]], dim="time")
        with quiet(), xr.open_zarr(paths[name]) as got:
            _same(name, got["wvel"].values, want["wvel"].values)
            _same(f"{name} (time)", got["time"].values, want["time"].values)

    try:
        with quiet():
            start.zio.to_zarr(paths[ZIO], chunks={"time": 1}, compressor="zstd")
            xr_new(start, paths[XR], {"wvel": (1, rows, cols)})
        runs = {name: writer(name) for name in paths}
        for name, run_once in runs.items():
            run_once()
            check(name, 1)
        flush()
        out = paired(cfg, runs, _after)
        for name in paths:
            check(name, n)
    finally:
        for path in paths.values():
            remove(path)
    out["step"], out["steps_before"] = [1, rows, cols], before
    out["floor_s"] = floor_seconds(cfg, [added[0]["wvel"].values[0]])
    return out


def small(cfg: Config) -> dict[str, Any]:
    """A new store of 100 x 100 float32 with its coordinates, to a fresh path per call."""
    values = seed_field(SMALL, cfg.seed)
    ds = xr.Dataset(
        {"wvel": (("y", "x"), values)},
        coords={
            "y": np.arange(SMALL[0], dtype=np.float64),
            "x": np.arange(SMALL[1], dtype=np.float64),
        },
    )
    paths = {ZIO: cfg.path("fixed-small-zio.zarr"), XR: cfg.path("fixed-small-xarray.zarr")}

    def writer(name: str) -> Callable[[], None]:
        path = paths[name]

        def write() -> None:
            with quiet():
                if name == ZIO:
                    ds.zio.to_zarr(path, compressor="zstd")
                else:
                    xr_new(ds, path, {"wvel": SMALL})

        return write

    def after(name: str) -> None:
        remove(paths[name])
        flush()

    runs = {name: writer(name) for name in paths}
    try:
        for name, run_once in runs.items():
            run_once()
            with quiet(), xr.open_zarr(paths[name]) as got:
                for var in ("wvel", "y", "x"):
                    _same(f"{name} ({var})", got[var].values, ds[var].values)
            after(name)
        out = paired(cfg, runs, after)
    finally:
        for path in paths.values():
            remove(path)
    out["shape"] = list(SMALL)
    out["floor_s"] = floor_seconds(cfg, [values, ds["y"].values, ds["x"].values])
    return out


def fill_step(shape: tuple[int, int, int], seed: int, index: int) -> xr.Dataset:
    """Step *index* of the template of *shape*: its values, without coordinates."""
    _, rows, cols = shape
    values = seed_field((rows, cols), seed + index)[np.newaxis]
    return xr.Dataset({"wvel": (("time", "y", "x"), values)})


def fill_one(name: str, path: str, shape: tuple[int, int, int], seed: int, index: int) -> int:
    """One process's region write of step *index* into the template at *path*."""
    region_write(name, fill_step(shape, seed, index), path, {"time": slice(index, index + 1)})
    return index


def _warm(_: int) -> int:
    """A task that holds its worker a while, so that every worker of a pool starts (and
    imports this module, xarray and xzarrio) before the timing."""
    time.sleep(0.3)
    return os.getpid()


def fill(cfg: Config) -> dict[str, Any]:
    """A template made, then filled by region writes from a pool of processes."""
    shape = FILL_QUICK if cfg.quick else FILL
    steps_, rows, cols = shape
    processes = max(2, cfg.cores)
    zeros = da.zeros(shape, dtype="float32", chunks=(1, rows, cols))
    template = xr.Dataset({"wvel": (("time", "y", "x"), zeros)})
    paths = {ZIO: cfg.path("fixed-fill-zio.zarr"), XR: cfg.path("fixed-fill-xarray.zarr")}

    def make(name: str) -> None:
        remove(paths[name])
        with quiet():
            if name == ZIO:
                template.zio.to_zarr(paths[name], compute=False, compressor="zstd")
            else:
                xr_new(template, paths[name], {}, compute=False)
        flush()

    blocks = [fill_step(shape, cfg.seed, i)["wvel"].values for i in range(steps_)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        list(pool.map(_warm, range(processes)))

        def writer(name: str) -> Callable[[], None]:
            def write() -> None:
                args = [(name, str(paths[name]), shape, cfg.seed, i) for i in range(steps_)]
                list(pool.map(fill_one, *zip(*args, strict=True)))

            return write

        runs = {name: writer(name) for name in paths}
        try:
            for name, run_once in runs.items():
                make(name)
                run_once()
                _same(name, read_back(paths[name]), np.concatenate(blocks))
                make(name)
            out = paired(cfg, runs, make)
            out.pop("zio_steps_ms", None)  # the templates made here: the writes run elsewhere
        finally:
            for path in paths.values():
                remove(path)
    out["shape"], out["processes"] = list(shape), processes
    out["floor_s"] = floor_seconds(cfg, [block[0] for block in blocks]) / processes
    return out


WRITES: dict[str, tuple[str, Callable[[Config], dict[str, Any]]]] = {
    "seed": ("seed write, new store", seed),
    "region": ("one-chunk region write", region),
    "append": ("one-step append", append),
    "append_long": ("one-step append, long store", append_long),
    "small": ("new small store (100 x 100)", small),
    "fill": ("a template filled by processes", fill),
}


def run(cfg: Config) -> dict[str, Any]:
    figures: dict[str, Any] = {"pairs": pairs(cfg), "cores": cfg.cores}
    rows = []
    for key, (label, measure) in WRITES.items():
        got = measure(cfg)
        figures[key] = got
        figures[f"{key}_over_xarray"] = got["over_xarray"]
        rows.append(
            [label, got["zio_median_s"] * 1e3, got["xarray_median_s"] * 1e3, got["over_xarray"],
             got["over_xarray_per_pair_median"], got["floor_s"] * 1e3,
             got["xarray_median_s"] / got["floor_s"]]
        )  # fmt: skip
        print(f"  {label}: ours ÷ xarray's {got['over_xarray']:.2f}", flush=True)
    region_rows, cols, chunk = REGION_QUICK if cfg.quick else REGION
    step = STEP_QUICK if cfg.quick else STEP
    long_steps, long_step = LONG_QUICK if cfg.quick else LONG
    sizes = (
        f"seed {cfg.shape[0]} x {cfg.shape[1]} in chunks of {cfg.chunk_rows} rows; region "
        f"{region_rows} x {cols} in chunks of {chunk} rows; append steps of {step[0]} x {step[1]}"
        f"; long store {long_steps} steps of {long_step[0]} x {long_step[1]}"
    )
    shown = table(
        f"fixed costs against xarray's to_zarr ({sizes}); {pairs(cfg)} adjacent pairs, order "
        f"alternating, medians; floor: the call's chunks encoded (zstd-3, one thread) and "
        f"written to files, no zarr (seed: on {cfg.cores} cores; fill: on "
        f"{max(2, cfg.cores)} processes)",
        ["write", "xzarrio ms", "xarray ms", "ours ÷ xarray", "per-pair median", "floor ms",
         "xarray ÷ floor"],
        rows,
    )  # fmt: skip
    return {"figures": figures, "tables": [shown, *_steps_table(figures)]}


def _steps_table(figures: dict[str, Any]) -> list[Any]:
    """Where the time of each of our small writes goes, step by step (median ms)."""
    timed_writes = [k for k in WRITES if "zio_steps_ms" in figures[k]]
    if not timed_writes:
        return []
    rows = [
        [WRITES[k][0], *(figures[k]["zio_steps_ms"][s] for s in STEP_NAMES),
         figures[k]["xarray_median_s"] * 1e3]
        for k in timed_writes
    ]  # fmt: skip
    return [
        table(
            "where the time of a write goes: median ms of each step of xzarrio's write path "
            "(see benchmarks/steps.py), beside xarray's whole call",
            ["write", *STEP_NAMES, "xarray ms"],
            rows,
        )
    ]
