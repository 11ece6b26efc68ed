"""Copy: the peak memory of a store-to-store copy against the store's size.

A copy must stream: its memory is bounded by the chunks in flight (about one
stored chunk per thread), not by the store. Two source stores hold ``wvel(y, x)``,
float32 drawn from normal(2000, 1000), in stored chunks of ``Config.chunk_rows``
rows by the full width (fewer where the 1x store would have fewer chunks than
cores): 1x is the seed workload (``Config.shape``), 4x has four
times the rows in the same chunks and is written from a dask array of
generated blocks, never whole in memory.

Each copy is the command line as a user types it, ``xzarrio copy SRC DST``
(``xzarrio.cli.main`` in a fresh Python process, default options), and its
peak resident memory is the kernel's record for that process. The floor is the
peak of a process that only imports xzarrio, xarray, zarr, dask and numpy: what
every copy pays before its first chunk. The bound printed beside the figures
is one stored chunk per core (the copy's threads).

The peak is taken by ``common.child_peak_rss``, through a small launcher
process, so that it does not depend on what the benchmark process holds.

Every copy goes to a fresh destination, deleted afterwards, with dirty pages
written back before the next one. The rounds alternate the order of the
stores; the figures are medians. The first copy of each store is reopened
and checked against its source (all values for 1x; shape, chunks and the last
chunk for 4x).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dask
import dask.array
import numpy as np
import xarray as xr

import xzarrio

from common import CLI, Config, flush, on_stores, peak_rounds, run_medians, seed_field, table

MIB = 2**20
SCALES = (1, 4)


def lazy_field(rows: int, cols: int, block_rows: int, seed: int) -> dask.array.Array:
    """The seed field's distribution in blocks of *block_rows* rows, each generated on demand."""
    blocks = []
    for i, start in enumerate(range(0, rows, block_rows)):
        shape = (min(block_rows, rows - start), cols)
        block = dask.delayed(seed_field)(shape, seed + i)
        blocks.append(dask.array.from_delayed(block, shape, dtype=np.float32))
    return dask.array.concatenate(blocks, axis=0)


def chunk_rows(cfg: Config) -> int:
    """The seed workload's chunk rows, fewer where the 1x store would have fewer chunks than cores.

    With fewer chunks than threads, a streaming copy of the 1x store would hold
    all of it and one of the 4x store more chunks: the ratio would measure the
    chunk count, not streaming.
    """
    return max(1, min(cfg.chunk_rows, cfg.shape[0] // cfg.cores))


def write_sources(cfg: Config) -> dict[str, Path]:
    """The 1x store (the seed workload) and the 4x one, in the same stored chunks."""
    rows, cols = cfg.shape
    per_chunk = chunk_rows(cfg)
    stores: dict[str, Path] = {}
    for scale in SCALES:
        if scale == 1:
            data: Any = seed_field(cfg.shape, cfg.seed)
        else:
            data = lazy_field(rows * scale, cols, per_chunk, cfg.seed)
        path = stores[f"{scale}x"] = cfg.path(f"copy-src-{scale}x.zarr")
        xr.Dataset({"wvel": (("y", "x"), data)}).zio.to_zarr(path, chunks={"y": per_chunk})
        del data
        flush()
    return stores


def check_copy(src: Path, dst: Path, whole: bool) -> None:
    """Raise if *dst* is not a faithful copy of *src*: all values, or layout and last chunk."""
    with xzarrio.open_zarr(src) as source, xzarrio.open_zarr(dst) as copy:
        a, b = source["wvel"], copy["wvel"]
        if a.shape != b.shape or a.dtype != b.dtype or a.chunks != b.chunks:
            raise AssertionError(
                f"copy of {src.name}: {b.shape} {b.dtype} chunks {b.chunks}, "
                f"expected {a.shape} {a.dtype} chunks {a.chunks}"
            )
        if b.encoding.get("chunks") != a.encoding.get("chunks"):
            raise AssertionError(f"copy of {src.name}: stored chunks {b.encoding.get('chunks')}")
        if whole:
            xr.testing.assert_identical(a.load(), b.load())
            return
        last = slice(a.shape[0] - a.data.chunks[0][-1], None)
        if not np.array_equal(a[last].values, b[last].values):
            raise AssertionError(f"copy of {src.name}: the last chunk differs from the source")


def measure(
    cfg: Config, stores: dict[str, Path], repeats: int
) -> dict[str, list[tuple[int, float]]]:
    """Peak RSS and wall seconds of every copy, and of the import floor, round after round."""
    dst = cfg.path("copy-dst.zarr")

    def copy(name: str) -> dict[str, list[str]]:
        return {name: [sys.executable, "-c", CLI, "copy", str(stores[name]), str(dst)]}

    def check(name: str, _: str) -> None:
        check_copy(stores[name], dst, whole=name == "1x")

    return peak_rounds(stores, dst, repeats, copy, check)


def run(cfg: Config) -> dict[str, Any]:
    """Write both sources, copy each ``repeats`` times, remove everything."""
    repeats = 1 if cfg.quick else 3
    stores = write_sources(cfg)
    runs, stored = on_stores(stores, lambda: measure(cfg, stores, repeats))
    peak, wall = run_medians(runs)
    floor = peak["floor"]
    chunk_mib = chunk_rows(cfg) * cfg.shape[1] * np.dtype(np.float32).itemsize / MIB
    bound = chunk_mib * cfg.cores
    rows = [["import only", None, None, floor, 0.0, None, wall["floor"]]]
    for scale, name in zip(SCALES, stores, strict=True):
        logical = scale * cfg.shape[0] * cfg.shape[1] * np.dtype(np.float32).itemsize
        above = peak[name] - floor
        rows.append(
            [name, stored[name] / 1e6, logical / 1e6, peak[name], above, above / bound, wall[name]]
        )
    tab = table(
        f"copy (xzarrio copy SRC DST): peak memory against store size, wvel float32 "
        f"{cfg.shape[0]} x {cfg.shape[1]} per 1x, stored chunks {(chunk_rows(cfg), cfg.shape[1])} "
        f"({repeats} rounds, medians); bound: chunk {chunk_mib:.1f} MiB x {cfg.cores} "
        f"threads = {bound:.1f} MiB",
        ["store", "stored MB", "logical MB", "peak RSS MiB", "peak − floor MiB",
         "÷ bound", "wall s"],
        rows,
    )  # fmt: skip
    above_1x, above_4x = peak["1x"] - floor, peak["4x"] - floor
    figures = {
        "copy_peak_4x_over_1x": peak["4x"] / peak["1x"],
        "copy_peak_above_floor_4x_over_1x": above_4x / above_1x,
        "copy_peak_mib_1x": peak["1x"],
        "copy_peak_mib_4x": peak["4x"],
        "copy_floor_mib": floor,
        "copy_chunk_mib": chunk_mib,
        "copy_bound_mib": bound,
        "copy_wall_s_1x": wall["1x"],
        "copy_wall_s_4x": wall["4x"],
    }
    print(
        f"copy peak 4x ÷ 1x: {figures['copy_peak_4x_over_1x']:.3f} (goal <= 1.2); above the "
        f"import floor: {figures['copy_peak_above_floor_4x_over_1x']:.3f}"
    )
    return {"tables": [tab], "figures": figures}
