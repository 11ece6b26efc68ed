"""Reduce benchmark: what profiling costs, and what threads buy.

The seed workload (8000 x 7500 float32 normal(2000, 1000), stored chunks of
2000 rows) is written once with ``.zio.to_zarr`` and reopened lazily; the
classic reduction ``(x**2 + x**3).mean("y")`` is then computed round after round, each
contender in an adjacent pair with ``plain``:

* ``plain``: ``.compute()`` on the threaded scheduler;
* ``zio.reduce``: the same under xzarrio's profilers (Profiler,
  CacheProfiler, and resource samples taken by a thread);
* ``dask profilers``: the same under dask's stock Profiler, ResourceProfiler
  (its tracker process) and CacheProfiler, to show where the time went;
* ``synchronous``: ``.compute(scheduler="synchronous")``, for the speed-up of threads.

Absolute times on a shared machine are noise: the ratios of adjacent pairs (the
order alternating), then their median, are what to read.

Run ``python benchmarks/bench_reduce.py --help`` for the options; a quick check is
``python benchmarks/bench_reduce.py --shape 2000,1500 --repeats 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr
from dask.diagnostics import CacheProfiler, Profiler, ResourceProfiler

import xzarrio

GOAL_PROFILED = 1.10


def classic(x: xr.DataArray) -> xr.DataArray:
    return (x**2 + x**3).mean("y")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="8000,7500", help="ROWS,COLS (default 8000,7500)")
    parser.add_argument("--chunk-rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=9, help="rounds (default 9)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    rows, cols = (int(n) for n in args.shape.split(","))

    with tempfile.TemporaryDirectory() as scratch:
        data = np.random.default_rng(42).normal(2000, 1000, (rows, cols)).astype("f4")
        path = Path(scratch) / "seed.zarr"
        xr.Dataset({"wvel": (("y", "x"), data)}).zio.to_zarr(path, chunks={"y": args.chunk_rows})
        del data
        wvel = xzarrio.open_zarr(path).wvel
        workers = args.workers

        def plain() -> None:
            classic(wvel).compute(scheduler="threads", num_workers=workers)

        def zio() -> None:
            wvel.zio.reduce("mean", dim="y", transform=lambda x: x**2 + x**3, num_workers=workers)

        def stock() -> None:
            with Profiler(), ResourceProfiler(dt=0.1), CacheProfiler():
                classic(wvel).compute(scheduler="threads", num_workers=workers)

        def synchronous() -> None:
            classic(wvel).compute(scheduler="synchronous")

        runs: dict[str, Callable[[], None]] = {
            "plain": plain,
            "zio.reduce": zio,
            "dask profilers": stock,
            "synchronous": synchronous,
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        # Each comparison is timed as an adjacent pair, the order alternating from
        # round to round, so that the machine's drifts cancel in the pair's ratio.
        # The first profiled call is timed too: a cold start is what a user meets.
        pairs = [("plain", "zio.reduce"), ("plain", "dask profilers"), ("plain", "synchronous")]
        ratios: dict[str, list[float]] = {b: [] for _, b in pairs}
        for round_ in range(args.repeats):
            for a, b in pairs:
                seconds = {}
                for name in (a, b) if round_ % 2 == 0 else (b, a):
                    start = time.perf_counter()
                    runs[name]()
                    seconds[name] = time.perf_counter() - start
                    times[name].append(seconds[name])
                ratios[b].append(seconds[b] / seconds[a])

    med = {name: statistics.median(t) for name, t in times.items()}

    result = {
        "shape": [rows, cols],
        "chunk_rows": args.chunk_rows,
        "repeats": args.repeats,
        "workers": workers,
        "cpus": os.cpu_count(),
        "seconds": times,
        "median_seconds": med,
        "ratios": ratios,
        "profiled_over_plain": statistics.median(ratios["zio.reduce"]),
        "dask_profilers_over_plain": statistics.median(ratios["dask profilers"]),
        "synchronous_over_threads": statistics.median(ratios["synchronous"]),
        "first_profiled_over_plain": ratios["zio.reduce"][0],
    }
    print(
        f"workload: wvel {rows} x {cols} float32, chunks of {args.chunk_rows} rows, "
        f"{workers} workers on {os.cpu_count()} CPUs, {args.repeats} rounds"
    )
    print(f"{'run':<16}{'median s':>10}{'min s':>10}")
    for name, t in times.items():
        print(f"{name:<16}{med[name]:>10.3f}{min(t):>10.3f}")
    verdict = "met" if result["profiled_over_plain"] <= GOAL_PROFILED else "NOT met"
    print(
        f"zio.reduce / plain (median of pairs): {result['profiled_over_plain']:.3f}  "
        f"goal <= {GOAL_PROFILED}: {verdict}"
    )
    print(f"dask's stock profilers / plain       : {result['dask_profilers_over_plain']:.3f}")
    print(f"first call, zio.reduce / plain       : {result['first_profiled_over_plain']:.3f}")
    print(f"threads speed-up (synchronous / threads): {result['synchronous_over_threads']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        print(f"results written to {args.json}")
    return result


if __name__ == "__main__":
    main()
