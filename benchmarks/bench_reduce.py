"""Reduce: from the store, against numpy in memory and h5py; and what profiling costs.

The seed field (``Config.shape`` float32 normal(2000, 1000), stored chunks of
``Config.chunk_rows`` rows) is written once with ``.zio.to_zarr`` (zstd) and
once with h5py (gzip-4, same chunks); the store is reopened lazily. The classic
reduction ``(x**2 + x**3).mean("y")`` is then computed by:

* ``zio.reduce``: ``wvel.zio.reduce("mean", dim="y", transform=...)`` on the
  reopened store, threads, under xzarrio's profilers (reads, decompresses and
  computes, chunk by chunk);
* ``numpy (in memory)``: the same expression on the in-memory array, one thread,
  nothing read;
* ``h5py + numpy``: the HDF5 file read whole, then the numpy expression;
* ``zio.reduce`` from the same store written with lz4 and with no compression:
  what decompression costs.

These run interleaved (a balanced Latin square); the results are checked to
agree first. Then, each in an adjacent pair with ``plain`` (the same reduction's
``.compute()`` on the threaded scheduler, the order alternating): ``plain``
itself (an A/A pair: how far the ratio of two identical runs strays on this
machine), ``zio.reduce`` (profiled ÷ plain), dask's stock
Profiler/ResourceProfiler/CacheProfiler, and the synchronous scheduler (what
threads buy); and ``plain`` against the same reduction of the store opened by
``xarray.open_zarr`` (what the reader's checks after every chunk cost:
``checked_over_unchecked_reads``). Ratios of adjacent pairs, then
their median, are what to read on a shared machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr
from dask.diagnostics import CacheProfiler, Profiler, ResourceProfiler

import xzarrio

from common import Config, interleaved, median, paired_ratios, quiet, remove, seed_field, table

GOAL_PROFILED = 1.10
GOAL_STORE_VS_NUMPY = 1.0


def classic(x: Any) -> Any:
    return x**2 + x**3


def python_loop(block: np.ndarray) -> np.ndarray:
    """Pure Python per element: holds the GIL the whole time."""
    out = np.empty(block.shape)
    flat, result = block.ravel(), out.ravel()
    for i in range(flat.size):
        result[i] = (flat[i] * 1.0001) % 7.0
    return out


def what_the_profile_says(wvel: xr.DataArray, workers: int) -> dict[str, Any]:
    """The profile's efficiency and findings for the seed reduction (3 runs, medians) and
    for a pure-Python function per block on the same threads."""
    seed = [
        wvel.zio.reduce("mean", dim="y", transform=classic, num_workers=workers).report
        for _ in range(3)
    ]
    part = wvel[: wvel.shape[0] // 4, : wvel.shape[1] // 8]
    blocks = part.chunk({"y": max(1, part.shape[0] // (4 * workers))})
    gil = [
        blocks.zio.profile(
            lambda da: xr.apply_ufunc(python_loop, da, dask="parallelized").mean("y"),
            num_workers=workers,
        ).report
        for _ in range(3)
    ]
    rows = []
    figures: dict[str, Any] = {}
    for name, reports in (("seed reduction", seed), ("pure-Python function", gil)):
        efficiency = median([r.parallel_efficiency for r in reports])
        busy = median([r.thread_busy_fraction for r in reports])
        found = sorted({f.kind for r in reports for f in r.findings})
        rows.append([name, busy, efficiency, ", ".join(found) or "none"])
        key = "seed" if name == "seed reduction" else "gil_function"
        figures[f"{key}_parallel_efficiency"] = efficiency
        figures[f"{key}_thread_busy_fraction"] = busy
        figures[f"{key}_findings"] = found
    tab = table(
        f"what the profile says, {workers} threads (3 runs, medians; findings of any run)",
        ["computation", "threads busy", "parallel efficiency (CPU)", "findings"],
        rows,
    )
    return {"table": tab, "figures": figures}


def client_cost(wvel: xr.DataArray, workers: int, pairs: int) -> dict[str, Any]:
    """Profiled ÷ plain on a distributed.Client (one worker of *workers* threads, in this
    process), as adjacent pairs."""
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=workers, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):

        def plain() -> Any:
            return client.compute(classic(wvel).mean("y")).result()

        def profiled() -> Any:
            return wvel.zio.reduce("mean", dim="y", transform=classic, scheduler=client).result

        np.testing.assert_allclose(np.asarray(profiled()), np.asarray(plain()), rtol=1e-4)
        base_s, other_s, ratios = paired_ratios(plain, profiled, pairs)
    tab = table(
        f"profiling's cost on a distributed.Client ({workers} threads, {pairs} pairs)",
        ["run", "median s", "plain median s", "median of pair ratios"],
        [["zio.reduce on the Client", median(other_s), median(base_s), median(ratios)]],
    )
    return {"table": tab, "figures": {"client_profiled_over_plain": median(ratios)}}


def run(cfg: Config) -> dict[str, Any]:
    import h5py

    data = seed_field(cfg.shape, cfg.seed)
    opened: dict[str, Any] = {}
    store = cfg.path("reduce.zarr")
    h5 = cfg.path("reduce.h5")
    ds = xr.Dataset({"wvel": (("y", "x"), data)})
    ds.zio.to_zarr(store, chunks={"y": cfg.chunk_rows}, compressor="zstd")
    # the same store with a faster codec and with none: what decompression costs
    others = {name: cfg.path(f"reduce-{name}.zarr") for name in ("lz4", "none")}
    with quiet():
        for name, path in others.items():
            ds.zio.to_zarr(path, chunks={"y": cfg.chunk_rows}, compressor=name)
            opened[name] = xzarrio.open_zarr(path).wvel
    with h5py.File(h5, "w") as f:
        f.create_dataset(
            "wvel", data=data, chunks=cfg.chunk_shape, compression="gzip", compression_opts=4
        )
    wvel = xzarrio.open_zarr(store).wvel
    unchecked = xr.open_zarr(store).wvel  # xarray's reader: no generation checks
    workers = cfg.cores

    def zio() -> Any:
        return wvel.zio.reduce("mean", dim="y", transform=classic, num_workers=workers).result

    def zio_from(name: str) -> Callable[[], Any]:
        def go() -> Any:
            x = opened[name]
            return x.zio.reduce("mean", dim="y", transform=classic, num_workers=workers).result

        return go

    def in_memory() -> Any:
        return classic(data).mean(axis=0)

    def h5py_numpy() -> Any:
        with h5py.File(h5, "r") as f:
            x = f["wvel"][...]
        return classic(x).mean(axis=0)

    def plain() -> Any:
        return classic(wvel).mean("y").compute(scheduler="threads", num_workers=workers)

    def plain_unchecked() -> Any:
        return classic(unchecked).mean("y").compute(scheduler="threads", num_workers=workers)

    def stock() -> Any:
        with Profiler(), ResourceProfiler(dt=0.1), CacheProfiler():
            return classic(wvel).mean("y").compute(scheduler="threads", num_workers=workers)

    def synchronous() -> Any:
        return classic(wvel).mean("y").compute(scheduler="synchronous")

    # the same numbers, whichever way (float32 sums in other orders: a relative tolerance)
    expected = in_memory()
    runs = {
        "zio.reduce": zio,
        "numpy (in memory)": in_memory,
        "h5py + numpy": h5py_numpy,
        "zio.reduce, lz4 store": zio_from("lz4"),
        "zio.reduce, uncompressed store": zio_from("none"),
        "plain": plain,
        "plain, unchecked": plain_unchecked,
    }
    for name, run_ in runs.items():
        np.testing.assert_allclose(np.asarray(run_()), expected, rtol=1e-4, err_msg=name)
    del runs["plain"], runs["plain, unchecked"]

    try:
        seconds = interleaved(runs, cfg.repeats, warmup=0)
        med = {name: median(s) for name, s in seconds.items()}
        per_round = [
            n / z for n, z in zip(seconds["numpy (in memory)"], seconds["zio.reduce"], strict=True)
        ]
        per_round_h5 = [
            h / z for h, z in zip(seconds["h5py + numpy"], seconds["zio.reduce"], strict=True)
        ]
        mb = data.nbytes / 1e6
        reduce_table = table(
            f"reduce (x**2 + x**3).mean('y') of the seed field {cfg.shape}, "
            f"{workers} threads ({cfg.repeats} rounds, medians)",
            ["contender", "median s", "min s", "MB/s of data", "time ÷ zio.reduce"],
            [
                [name, med[name], min(s), mb / med[name], med[name] / med["zio.reduce"]]
                for name, s in seconds.items()
            ],
        )

        pairs = max(cfg.repeats * 4, 4)
        paired: dict[str, dict[str, list[float]]] = {}
        for name, other in (
            ("plain (A/A: the noise)", plain),
            ("zio.reduce", zio),
            ("dask profilers", stock),
            ("synchronous", synchronous),
        ):
            base_s, other_s, ratios = paired_ratios(plain, other, pairs)
            paired[name] = {"plain": base_s, name: other_s, "ratios": ratios}
        # the reader's checks (xzarrio.open_zarr) against xarray's reader of the same store
        base_s, other_s, ratios = paired_ratios(plain_unchecked, plain, pairs)
        checks = {"plain, unchecked": base_s, "plain": other_s, "ratios": ratios}
        cost_table = table(
            f"profiling's cost: adjacent pairs with plain .compute() ({pairs} pairs)",
            ["run", "median s", "plain median s", "median of pair ratios"],
            [
                [name, median(p[name]), median(p["plain"]), median(p["ratios"])]
                for name, p in paired.items()
            ]
            + [
                [
                    "plain ÷ plain from xr.open_zarr (the reader's checks)",
                    median(checks["plain"]),
                    median(checks["plain, unchecked"]),
                    median(checks["ratios"]),
                ]
            ],
        )
        truth = what_the_profile_says(wvel, workers)
        on_client = client_cost(wvel, workers, pairs)
    finally:
        for x in (wvel, unchecked, *opened.values()):
            x.close()
        for path in (store, h5, *others.values()):
            remove(path)

    profiled = median(paired["zio.reduce"]["ratios"])
    store_vs_numpy = med["numpy (in memory)"] / med["zio.reduce"]
    print(
        f"reduce from the store vs numpy in memory: {store_vs_numpy:.2f}x "
        f"(per-round median {median(per_round):.2f}x; goal >= {GOAL_STORE_VS_NUMPY}); "
        f"profiled / plain: {profiled:.3f} (goal <= {GOAL_PROFILED})"
    )
    return {
        "tables": [reduce_table, cost_table, truth["table"], on_client["table"]],
        "figures": {
            "seconds": seconds,
            "paired": paired,
            "reduce_store_vs_numpy": store_vs_numpy,
            "reduce_store_vs_numpy_per_round_median": median(per_round),
            "reduce_store_vs_h5py_numpy": med["h5py + numpy"] / med["zio.reduce"],
            "reduce_store_vs_h5py_numpy_per_round_median": median(per_round_h5),
            "profiled_over_plain": profiled,
            "checked_over_unchecked_reads": median(checks["ratios"]),
            "plain_over_plain": median(paired["plain (A/A: the noise)"]["ratios"]),
            "reduce_lz4_store_vs_numpy": med["numpy (in memory)"] / med["zio.reduce, lz4 store"],
            "reduce_uncompressed_store_vs_numpy": med["numpy (in memory)"]
            / med["zio.reduce, uncompressed store"],
            "dask_profilers_over_plain": median(paired["dask profilers"]["ratios"]),
            "synchronous_over_threads": median(paired["synchronous"]["ratios"]),
            **truth["figures"],
            **on_client["figures"],
        },
    }
