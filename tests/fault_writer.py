"""A slow writer for fault tests, run in a subprocess and killed mid-write.

    python fault_writer.py MODE STORE MARKER [STORAGE_OPTIONS_JSON]

MODE is ``w``, ``new`` (``w-`` to a new store), ``append`` or ``region``. STORE is a path,
a URL, ``wrapped:PATH`` for a ``zarr.storage.WrapperStore`` around a ``LocalStore`` of
PATH, or ``obstore:ENDPOINT/BUCKET/PREFIX`` for zarr's ``ObjectStore`` over obstore's
``S3Store`` of the test server at ENDPOINT. Every chunk task touches MARKER and sleeps,
so the parent can kill the process while chunks are being written.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
import zarr

import xzarrio  # noqa: F401  (registers .zio)

ROWS, COLS, CHUNK = 400, 50, 10


def open_store(store: str) -> object:
    """The store STORE names: ``wrapped:PATH`` a wrapper of a LocalStore,
    ``obstore:ENDPOINT/BUCKET/PREFIX`` zarr's ObjectStore over obstore's S3Store of the
    test server at ENDPOINT, else as given."""
    if store.startswith("wrapped:"):
        return zarr.storage.WrapperStore(zarr.storage.LocalStore(store.removeprefix("wrapped:")))
    if store.startswith("obstore:"):
        from s3server import obstore_store  # beside this script, which runs as one

        where = urllib.parse.urlsplit(store.removeprefix("obstore:"))
        bucket, prefix = where.path.lstrip("/").split("/", 1)
        return obstore_store(f"{where.scheme}://{where.netloc}", bucket, prefix)
    return store


def main(mode: str, where: str, marker: str, storage_options: str | None = None) -> None:
    store = open_store(where)

    def slow(block: np.ndarray) -> np.ndarray:
        if block.size:  # not dask's call on an empty block to learn the output type
            Path(marker).touch()
            time.sleep(0.2)
        return block

    data = da.map_blocks(slow, da.full((ROWS, COLS), 7.0, chunks=(CHUNK, COLS)), dtype="f8")
    ds = xr.Dataset({"v": (("t", "x"), data)})
    options = {"storage_options": json.loads(storage_options)} if storage_options else {}
    if mode == "w":
        ds.zio.to_zarr(store, mode="w", num_workers=2, **options)
    elif mode == "new":
        ds.zio.to_zarr(store, num_workers=2, **options)
    elif mode == "append":
        ds.zio.to_zarr(store, append_dim="t", num_workers=2, **options)
    elif mode == "region":
        ds.zio.to_zarr(store, region={"t": slice(0, ROWS)}, num_workers=2, **options)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
