"""A slow writer for fault tests, run in a subprocess and killed mid-write.

    python fault_writer.py MODE STORE MARKER

MODE is ``w``, ``append`` or ``region``. Every chunk task touches MARKER and
sleeps, so the parent can kill the process while chunks are being written.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

import xzarrio  # noqa: F401  (registers .zio)

ROWS, COLS, CHUNK = 400, 50, 10


def main(mode: str, store: str, marker: str) -> None:
    def slow(block: np.ndarray) -> np.ndarray:
        Path(marker).touch()
        time.sleep(0.2)
        return block

    data = da.map_blocks(slow, da.full((ROWS, COLS), 7.0, chunks=(CHUNK, COLS)), dtype="f8")
    ds = xr.Dataset({"v": (("t", "x"), data)})
    if mode == "w":
        ds.zio.to_zarr(store, mode="w", num_workers=2)
    elif mode == "append":
        ds.zio.to_zarr(store, append_dim="t", num_workers=2)
    elif mode == "region":
        ds.zio.to_zarr(store, region={"t": slice(0, ROWS)}, num_workers=2)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
