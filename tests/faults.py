"""Picklable pieces of the fault table: data whose tasks fail or crawl, run on any scheduler.

They live in a module of their own (not in a test file) so that a
``distributed`` worker or a spawned process can import them by name.
"""

from __future__ import annotations

import time
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

ROWS, COLS, CHUNK = 400, 50, 10
FAIL_AT = 250


def base() -> xr.Dataset:
    """The store every fault is tried on: 400 rows of 50, in chunks of 10 rows."""
    return xr.Dataset({"v": (("t", "x"), np.arange(ROWS * COLS, dtype="f8").reshape(ROWS, COLS))})


def raise_at_row(
    block: np.ndarray,
    block_info: dict[Any, Any] | None = None,
    exc: BaseException | None = None,
) -> np.ndarray:
    """The block that starts at row FAIL_AT raises *exc*; the others pass through."""
    assert block_info is not None and exc is not None  # dask passes block_info, failing() exc
    if block_info[None]["array-location"][0][0] == FAIL_AT:
        time.sleep(0.05)
        raise exc
    return block


def crawl(block: np.ndarray, seconds: float = 0.05) -> np.ndarray:
    time.sleep(seconds)
    return block


def failing(exc: BaseException) -> xr.Dataset:
    """400 rows of -1 in 40 chunk tasks; the one at row 250 raises *exc*."""
    data = da.full((ROWS, COLS), -1.0, chunks=(CHUNK, COLS))
    data = da.map_blocks(raise_at_row, data, dtype="f8", exc=exc)
    return xr.Dataset({"v": (("t", "x"), data)})


def crawling(seconds: float = 0.05) -> xr.Dataset:
    """400 rows of -1 in 40 chunk tasks that each take *seconds*."""
    data = da.map_blocks(crawl, da.full((ROWS, COLS), -1.0, chunks=(CHUNK, COLS)), dtype="f8")
    return xr.Dataset({"v": (("t", "x"), data)})


def noise(seed: int = 1) -> xr.Dataset:
    """400 rows of random numbers in memory: incompressible, to fill a disk."""
    values = np.random.default_rng(seed).random((ROWS, COLS))
    return xr.Dataset({"v": (("t", "x"), values)})


def write(mode: str, ds: xr.Dataset, store: object, **kwargs: object) -> None:
    """One write of the table: a replacement, an append or a region write of all rows."""
    if mode == "w":
        ds.zio.to_zarr(store, mode="w", chunks={"t": CHUNK}, **kwargs)
    elif mode == "append":
        ds.zio.to_zarr(store, append_dim="t", **kwargs)
    elif mode == "region":
        ds.zio.to_zarr(store, region={"t": slice(0, ROWS)}, **kwargs)
    else:
        raise ValueError(f"unknown mode {mode!r}")
