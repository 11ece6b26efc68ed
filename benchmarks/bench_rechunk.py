"""Rechunk: time steps to time series in bounded memory, against the store's size.

Two source stores hold ``temp(time, y, x)``, float32 (a smooth field plus
noise, as a model writes it), in stored chunks of 10 time steps over the whole
map: 1x has 2,000 steps of 250 x 500 (1.0 GB), 4x has 8,000 (4.0 GB), both
written from dask blocks generated on demand. Each is rechunked to time
series, stored chunks of (1000, 25, 50), with ``max_mem`` 256 MiB, by the
command line as a user types it::

    xzarrio copy SRC DST --chunks time=1000 --chunks y=25 --chunks x=50 --max-mem 256MiB

Beside it, in the same round, the same command without ``--chunks`` (a copy
in the same chunks: the time a rechunk costs over one pass), and xarray's own
rechunk (``open_zarr(SRC).chunk(...).to_zarr(DST)``, dask's rechunk in
memory). Every run is a fresh process; its peak resident memory is the
kernel's record (``common.child_peak_rss``); the floor is a process that
only imports xzarrio, xarray, zarr, dask and numpy. The bound is ``max_mem``
plus that floor plus 150 MiB. Rounds alternate the order of the stores and
of the commands; the figures are medians. The first rechunk of each store is
checked against its source (every value for 1x; 3 random runs of 10 steps for 4x).
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

from common import CLI, Config, flush, on_stores, peak_rounds, run_medians, table

MIB = 2**20
SCALES = (1, 4)
#: (steps of the 1x store, rows, columns), steps per stored chunk, the series' chunks
FULL = ((2000, 250, 500), 10, {"time": 1000, "y": 25, "x": 50})
QUICK = ((200, 50, 100), 10, {"time": 100, "y": 10, "x": 20})
FULL_MAX_MEM, QUICK_MAX_MEM = "256MiB", "4MiB"
#: xarray's rechunk of the same store, for comparison: argv SRC DST then dim=size pairs
XARRAY = """
import sys, xarray as xr
src, dst, *pairs = sys.argv[1:]
ds = xr.open_zarr(src)
for var in ds.variables.values():
    var.encoding.pop("chunks", None); var.encoding.pop("preferred_chunks", None)
chunks = {p.split("=")[0]: int(p.split("=")[1]) for p in pairs}
ds.chunk(chunks).to_zarr(dst, mode="w-")
"""


def steps_block(shape: tuple[int, int, int], start: int, seed: int) -> np.ndarray:
    """*shape[0]* time steps from *start* of a smooth travelling wave plus noise, float32."""
    steps, rows, cols = shape
    t = np.arange(start, start + steps, dtype=np.float32)[:, None, None]
    y = np.linspace(0, 1, rows, dtype=np.float32)[None, :, None]
    x = np.linspace(0, 1, cols, dtype=np.float32)[None, None, :]
    field = 280 + 10 * np.sin(2 * np.pi * (3 * x + 2 * y) + t / 50) * np.cos(2 * np.pi * y)
    noise = np.random.default_rng((seed, start)).standard_normal(shape, dtype=np.float32)
    return (field + 0.5 * noise).astype(np.float32)


def lazy_steps(steps: int, rows: int, cols: int, per_chunk: int, seed: int) -> dask.array.Array:
    """The field's *steps* in blocks of *per_chunk* steps, each generated on demand."""
    blocks = []
    for start in range(0, steps, per_chunk):
        shape = (min(per_chunk, steps - start), rows, cols)
        block = dask.delayed(steps_block)(shape, start, seed)
        blocks.append(dask.array.from_delayed(block, shape, dtype=np.float32))
    return dask.array.concatenate(blocks, axis=0)


def write_sources(cfg: Config) -> dict[str, Path]:
    (steps, rows, cols), per_chunk, _ = QUICK if cfg.quick else FULL
    stores = {}
    for scale in SCALES:
        data = lazy_steps(steps * scale, rows, cols, per_chunk, cfg.seed)
        path = stores[f"{scale}x"] = cfg.path(f"rechunk-src-{scale}x.zarr")
        xr.Dataset({"temp": (("time", "y", "x"), data)}).zio.to_zarr(
            path, chunks={"time": per_chunk}, progress=False
        )
        flush()
    return stores


def check_series(src: Path, dst: Path, chunks: dict[str, int], whole: bool, seed: int) -> None:
    """Raise unless *dst* holds *src*'s values in the series' chunks."""
    with xzarrio.open_zarr(src) as source, xzarrio.open_zarr(dst) as series:
        a, b = source["temp"], series["temp"]
        if b.encoding["chunks"] != tuple(min(chunks[d], n) for d, n in a.sizes.items()):
            raise AssertionError(f"rechunk of {src.name}: stored chunks {b.encoding['chunks']}")
        if whole:
            xr.testing.assert_identical(a.load(), b.load())
            return
        # a series read from the time steps would read the whole store: compare maps
        rng = np.random.default_rng(seed)
        for _ in range(3):
            start = int(rng.integers(a.sizes["time"] - 10))
            steps = {"time": slice(start, start + 10)}
            if not np.array_equal(a[steps].values, b[steps].values):
                raise AssertionError(f"rechunk of {src.name}: steps {start} to {start + 10} differ")


def commands(src: Path, dst: Path, cfg: Config) -> dict[str, list[str]]:
    _, _, chunks = QUICK if cfg.quick else FULL
    max_mem = QUICK_MAX_MEM if cfg.quick else FULL_MAX_MEM
    pairs = [f"{d}={n}" for d, n in chunks.items()]
    asked = [a for p in pairs for a in ("--chunks", p)]
    copy = [sys.executable, "-c", CLI, "copy", str(src), str(dst), "--max-mem", max_mem]
    return {
        "rechunk": [*copy, *asked, "--no-progress"],
        "copy": [*copy, "--no-progress"],
        "xarray": [sys.executable, "-c", XARRAY, str(src), str(dst), *pairs],
    }


def measure(cfg: Config, stores: dict[str, Path], repeats: int) -> dict[str, list[Any]]:
    """Peak RSS and wall seconds of every command on every store, round after round."""
    dst = cfg.path("rechunk-dst.zarr")
    _, _, chunks = QUICK if cfg.quick else FULL

    def made(name: str) -> dict[str, list[str]]:
        return {f"{what} {name}": argv for what, argv in commands(stores[name], dst, cfg).items()}

    def check(name: str, key: str) -> None:
        if key.startswith("rechunk "):
            check_series(stores[name], dst, chunks, name == "1x", cfg.seed)

    return peak_rounds(stores, dst, repeats, made, check)


def run(cfg: Config) -> dict[str, Any]:
    """Write both sources, run every command ``repeats`` times, remove everything."""
    repeats = 1 if cfg.quick else 3
    stores = write_sources(cfg)
    runs, stored = on_stores(stores, lambda: measure(cfg, stores, repeats))
    peak, wall = run_medians(runs)
    return report(cfg, peak, wall, stored, repeats)


def report(
    cfg: Config, peak: dict[str, float], wall: dict[str, float], stored: dict[str, int],
    repeats: int,
) -> dict[str, Any]:  # fmt: skip
    (steps, rows, cols), per_chunk, chunks = QUICK if cfg.quick else FULL
    max_mem = QUICK_MAX_MEM if cfg.quick else FULL_MAX_MEM
    max_mem_mib = parse_size(max_mem) / MIB
    floor = peak["floor"]
    bound = max_mem_mib + floor + 150
    rows_out: list[list[Any]] = [["import only", "-", None, floor, None, wall["floor"], None]]
    for scale in SCALES:
        name = f"{scale}x"
        for what in ("rechunk", "copy", "xarray"):
            key = f"{what} {name}"
            rows_out.append([
                what, name, stored[name] / 1e6, peak[key], peak[key] / bound, wall[key],
                wall[key] / wall[f"copy {name}"],
            ])  # fmt: skip
    tab = table(
        f"rechunk (xzarrio copy --chunks ... --max-mem {max_mem}): temp float32 "
        f"({steps}, {rows}, {cols}) per 1x in chunks of {per_chunk} steps, to {chunks} "
        f"({repeats} rounds, medians); bound = max_mem + import floor + 150 MiB = "
        f"{bound:.0f} MiB; {cfg.cores} cores",
        ["command", "store", "stored MB", "peak RSS MiB", "÷ bound", "wall s", "÷ copy"],
        rows_out,
    )  # fmt: skip
    figures = {
        "rechunk_peak_4x_over_1x": peak["rechunk 4x"] / peak["rechunk 1x"],
        "rechunk_peak_mib_1x": peak["rechunk 1x"],
        "rechunk_peak_mib_4x": peak["rechunk 4x"],
        "rechunk_peak_over_bound_4x": peak["rechunk 4x"] / bound,
        "rechunk_bound_mib": bound,
        "rechunk_floor_mib": floor,
        "rechunk_max_mem_mib": max_mem_mib,
        "rechunk_over_copy_1x": wall["rechunk 1x"] / wall["copy 1x"],
        "rechunk_over_copy_4x": wall["rechunk 4x"] / wall["copy 4x"],
        "rechunk_over_xarray_4x": wall["rechunk 4x"] / wall["xarray 4x"],
        "xarray_peak_mib_4x": peak["xarray 4x"],
        "rechunk_wall_s_4x": wall["rechunk 4x"],
        "copy_wall_s_4x": wall["copy 4x"],
    }
    print(
        f"rechunk peak 4x ÷ 1x: {figures['rechunk_peak_4x_over_1x']:.3f} (goal <= 1.15); "
        f"4x peak ÷ bound {figures['rechunk_peak_over_bound_4x']:.3f} (goal <= 1)"
    )
    return {"tables": [tab], "figures": figures}


def parse_size(size: str) -> int:
    from dask.utils import parse_bytes

    return int(parse_bytes(size))
