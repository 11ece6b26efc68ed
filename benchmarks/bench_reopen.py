"""Reopen: the time of ``xzarrio.open_zarr`` against the store's size and its number of variables.

Size: stores of one layout and one stored chunk shape that hold 1x, 10x and
100x the rows. Each holds ``temp(time, x)``, float32 noise, with a daily
``time`` coordinate (datetime64[ns]) and a float64 ``x`` coordinate, written
by ``ds.zio.to_zarr(path, chunks={"time": ..., "x": ...})`` from a dask array
(full size: chunks of 200 x 750, 20 chunks and 12 MB for 1x, 2000 chunks and
1.2 GB for 100x; quick: chunks of 20 x 75). The dimension coordinates are
stored in chunks of at least 1 MiB (the table gives the ``time`` coordinate's
count): xarray reads them whole on every open. A fourth store holds the 100x
data grown as a time series grows: written at 1x, then 99 appends of 1x.

Variables: stores holding 1, 10, 50 and 200 small variables (100 x 50 float32,
one chunk each) that share the two coordinates.

Each open is timed whole: ``xzarrio.open_zarr(path)`` (its checks of the store,
then xarray's open with one dask chunk per stored chunk) and xarray's own
``xr.open_zarr(path)`` with its defaults; both read the consolidated metadata
(zarr format 3) and the values of the dimension coordinates, which xarray
loads to build its indexes, and nothing else is computed. The dataset is
closed within the timed call. Every (store, opener) pair runs once per round,
the order along a balanced Latin square, after one untimed warm-up round; the
figures are medians over the rounds. The stores were just written, so their
files are in the page cache: this is a warm reopen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array
import numpy as np
import xarray as xr
import zarr

import xzarrio

from common import Config, disk_bytes, interleaved, median, quiet, remove, table

#: rows of the 1x store, columns, and the stored chunk shape; full size and quick
FULL_BASE = (400, 7500)
FULL_CHUNKS = (200, 750)
QUICK_BASE = (40, 750)
QUICK_CHUNKS = (20, 75)
SCALES = (1, 10, 100)

#: the 100x store written once at 1x, then grown by 99 appends of 1x
APPENDED = "100x by appends"

VARIABLE_COUNTS = (1, 10, 50, 200)
VARIABLE_SHAPE = (100, 50)

OPENERS: dict[str, Callable[[Path], xr.Dataset]] = {
    "zio": xzarrio.open_zarr,
    "xarray": xr.open_zarr,
}


def _coords(rows: int, cols: int) -> dict[str, Any]:
    start = np.datetime64("2000-01-01", "ns")
    return {
        "time": ("time", start + np.arange(rows) * np.timedelta64(1, "D")),
        "x": ("x", np.linspace(0.0, 360.0, cols, endpoint=False)),
    }


def sized_dataset(rows: int, cols: int, chunks: tuple[int, int], seed: int) -> xr.Dataset:
    """``temp(time, x)`` as a lazy dask array: a few blocks in memory at a time, never all.

    A block spans 10 stored chunks of rows and the full width: fewer tasks to
    write than one per stored chunk.
    """
    rng = dask.array.random.default_rng(seed)
    block = (min(rows, 10 * chunks[0]), cols)
    temp = rng.normal(15.0, 10.0, size=(rows, cols), chunks=block).astype(np.float32)
    return xr.Dataset({"temp": (("time", "x"), temp)}, coords=_coords(rows, cols))


def many_variables(count: int, seed: int) -> xr.Dataset:
    """*count* small float32 variables that share the ``time`` and ``x`` coordinates."""
    rng = np.random.default_rng(seed)
    rows, cols = VARIABLE_SHAPE
    data = {
        f"v{i:03d}": (("time", "x"), rng.normal(size=VARIABLE_SHAPE).astype(np.float32))
        for i in range(count)
    }
    return xr.Dataset(data, coords=_coords(rows, cols))


def write_store(ds: xr.Dataset, path: Path, chunks: tuple[int, int], **kwargs: Any) -> None:
    with quiet():
        ds.zio.to_zarr(path, chunks={"time": chunks[0], "x": chunks[1]}, **kwargs)


def opener(open_fn: Callable[[Path], xr.Dataset], path: Path) -> Callable[[], None]:
    """One timed call: open the store, then close it; nothing is computed."""

    def run() -> None:
        with quiet():
            open_fn(path).close()

    return run


def time_opens(stores: dict[str, Path], repeats: int) -> dict[str, dict[str, float]]:
    """Median seconds of every opener on every store, all interleaved in one set of rounds."""
    runs = {
        f"{name} {store}": opener(fn, path)
        for store, path in stores.items()
        for name, fn in OPENERS.items()
    }
    seconds = interleaved(runs, repeats, warmup=1)
    return {
        store: {name: median(seconds[f"{name} {store}"]) for name in OPENERS} for store in stores
    }


def size_axis(cfg: Config, repeats: int) -> tuple[dict[str, Any], dict[str, float]]:
    (rows, cols), chunks = (QUICK_BASE, QUICK_CHUNKS) if cfg.quick else (FULL_BASE, FULL_CHUNKS)
    stores: dict[str, Path] = {}
    layout: dict[str, tuple[int, int]] = {}  # chunks of the data, of the time coordinate
    for scale in SCALES:
        n = rows * scale
        path = stores[f"{scale}x"] = cfg.path(f"reopen-{scale}x.zarr")
        write_store(sized_dataset(n, cols, chunks, cfg.seed + scale), path, chunks)
    # the same 100x store grown as a time series grows: one write, then 99 appends
    grown = stores[APPENDED] = cfg.path("reopen-100x-appended.zarr")
    full = sized_dataset(rows * SCALES[-1], cols, chunks, cfg.seed + 1000)
    write_store(full.isel(time=slice(0, rows)), grown, chunks)
    for start in range(rows, rows * SCALES[-1], rows):
        with quiet():
            full.isel(time=slice(start, start + rows)).zio.to_zarr(grown, append_dim="time")
    for name, path in stores.items():
        time = zarr.open_array(str(path / "time"), mode="r")
        n = time.shape[0]
        layout[name] = (_n_chunks((n, cols), chunks), -(-n // time.chunks[0]))

    med = time_opens(stores, repeats)
    base = med["1x"]["zio"]
    rows_out = [
        [store, *layout[store], disk_bytes(path) / 1e6, med[store]["zio"] * 1e3,
         med[store]["xarray"] * 1e3, med[store]["zio"] / med[store]["xarray"],
         med[store]["zio"] / base]
        for store, path in stores.items()
    ]  # fmt: skip
    tab = table(
        f"reopen against store size: temp(time, x) float32, 1x = {rows} x {cols}, stored "
        f"chunks {chunks[0]} x {chunks[1]} ({repeats} rounds, medians)",
        ["store", "chunks", "time chunks", "stored MB", "zio ms", "xarray ms", "zio ÷ xarray",
         "÷ 1x time (zio)"],
        rows_out,
    )  # fmt: skip
    figures = {
        "reopen_100x_over_1x": med["100x"]["zio"] / base,
        "reopen_10x_over_1x": med["10x"]["zio"] / base,
        "reopen_100x_appended_over_1x": med[APPENDED]["zio"] / base,
        "reopen_zio_over_xarray_1x": base / med["1x"]["xarray"],
        "reopen_zio_over_xarray_100x": med["100x"]["zio"] / med["100x"]["xarray"],
        "reopen_ms_1x": base * 1e3,
        "reopen_ms_100x": med["100x"]["zio"] * 1e3,
    }
    for path in stores.values():
        remove(path)
    return tab, figures


def _n_chunks(shape: tuple[int, int], chunks: tuple[int, int]) -> int:
    return -(-shape[0] // chunks[0]) * -(-shape[1] // chunks[1])


def variables_axis(cfg: Config, repeats: int) -> tuple[dict[str, Any], dict[str, float]]:
    stores: dict[str, Path] = {}
    for count in VARIABLE_COUNTS:
        path = stores[str(count)] = cfg.path(f"reopen-{count}-variables.zarr")
        write_store(many_variables(count, cfg.seed), path, VARIABLE_SHAPE)

    med = time_opens(stores, repeats)
    first, last = VARIABLE_COUNTS[0], VARIABLE_COUNTS[-1]
    base = med[str(first)]["zio"]
    rows_out = []
    for count in VARIABLE_COUNTS:
        zio, xarr = med[str(count)]["zio"], med[str(count)]["xarray"]
        per_variable = (zio - base) / (count - first) * 1e3 if count > first else None
        rows_out.append([count, zio * 1e3, xarr * 1e3, zio / xarr, per_variable])
    tab = table(
        f"reopen against number of variables: each {VARIABLE_SHAPE[0]} x {VARIABLE_SHAPE[1]} "
        f"float32 in one chunk ({repeats} rounds, medians; ms per variable: the slope from "
        f"{first} variable)",
        ["variables", "zio ms", "xarray ms", "zio ÷ xarray", "ms per variable (zio)"],
        rows_out,
    )
    top = med[str(last)]["zio"]
    figures = {
        "reopen_ms_200_variables": top * 1e3,
        "reopen_zio_over_xarray_200_variables": top / med[str(last)]["xarray"],
        "reopen_ms_per_variable": (top - base) / (last - first) * 1e3,
    }
    for path in stores.values():
        remove(path)
    return tab, figures


def run(cfg: Config) -> dict[str, Any]:
    """Both axes; the stores are removed once timed."""
    repeats = max(cfg.repeats, 3 if cfg.quick else 15)
    size_table, size_figures = size_axis(cfg, repeats)
    print(f"zio: 100x ÷ 1x = {size_figures['reopen_100x_over_1x']:.2f} (goal <= 1.5)")
    var_table, var_figures = variables_axis(cfg, repeats)
    return {"tables": [size_table, var_table], "figures": {**size_figures, **var_figures}}
