"""Read: a full read of a stored field, against the fastest ways to read the same store.

The seed field and the smooth field (``Config.shape`` float32, stored chunks of
``Config.chunk_rows`` rows) are written once each with ``.zio.to_zarr`` and its
defaults (zstd, chunk checksums), then read whole into memory by:

* ``xzarrio``: ``xzarrio.open_zarr(path).wvel.values``: the reader's checks,
  one dask chunk per stored chunk, dask's threaded scheduler on all cores;
* ``xzarrio, chunks=None``: the same reader opened without dask: xarray's lazy
  variable reads through zarr at once into one array, the reader's checks kept;
* ``zarr-python``: ``zarr.open_array(path, path="wvel")[...]``: zarr's own read,
  its event loop and worker threads, no dask;
* ``xarray``: ``xarray.open_zarr(path).wvel.values``, xarray's defaults;
* ``tensorstore``, where it is installed (``pip install tensorstore``): its
  ``zarr3`` driver on the folder (C++, its own thread pool);
* ``zarrs``, where it is installed (``pip install zarrs``): zarr-python's read
  with zarrs' codec pipeline (Rust), which reads and decodes the chunks.

Each read opens the store anew. The contenders run once per round, the order
along a balanced Latin square, after an untimed warm-up round; every read is
first compared with the data. The stores were just written, so their files
are in the page cache: what is measured is decoding and copying, not a disk.
The figure to read is zarr-python's time ÷ ours (above 1: ours is faster),
with tensorstore's beside it; and the same of each reader's fastest round,
which on a virtual machine whose memory the host takes back and hands out
again is the steadier figure: a read that touches fresh pages there can take
three times as long, whoever's read it is.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

import xzarrio

from common import (
    WORKLOADS,
    Config,
    installed,
    interleaved,
    median,
    quiet,
    table,
    tensorstore_spec,
    zarrs_pipeline,
)


def readers(path: Path) -> dict[str, Callable[[], np.ndarray]]:
    """The contenders, each reading the variable ``wvel`` of *path* whole."""
    runs: dict[str, Callable[[], np.ndarray]] = {
        "xzarrio": lambda: xzarrio.open_zarr(path).wvel.values,
        "xzarrio, chunks=None": lambda: xzarrio.open_zarr(path, chunks=None).wvel.values,
        "zarr-python": lambda: _zarr_read(path),
        "xarray": lambda: xr.open_zarr(path).wvel.values,
    }
    if installed("tensorstore"):
        runs["tensorstore"] = _tensorstore_reader(path / "wvel")
    if installed("zarrs"):
        runs["zarrs"] = lambda: _zarr_read(path, zarrs=True)
    return runs


def _zarr_read(path: Path, *, zarrs: bool = False) -> np.ndarray:
    """zarr-python's own read of ``wvel``; with zarrs' codec pipeline where *zarrs*."""
    with zarrs_pipeline() if zarrs else nullcontext():
        return np.asarray(zarr.open_array(path, path="wvel", mode="r")[...])


def _tensorstore_reader(array: Path) -> Callable[[], np.ndarray]:
    import tensorstore

    spec = tensorstore_spec(array)

    def read() -> np.ndarray:
        return np.asarray(tensorstore.open(spec, read=True).result().read().result())

    return read


def run(cfg: Config) -> dict[str, Any]:
    tables: list[dict[str, Any]] = []
    figures: dict[str, Any] = {}
    for workload, make in WORKLOADS.items():
        data = make(cfg.shape, cfg.seed)
        path = cfg.path(f"read-{workload}.zarr")
        with quiet():
            xr.Dataset({"wvel": (("y", "x"), data)}).zio.to_zarr(
                path, chunks={"y": cfg.chunk_rows}, compressor="zstd"
            )
        runs = readers(path)
        for name, read in runs.items():
            np.testing.assert_array_equal(read(), data, err_msg=name)
        with quiet():
            seconds = interleaved(runs, max(cfg.repeats, 3))
        med = {name: median(s) for name, s in seconds.items()}
        fastest = {name: min(s) for name, s in seconds.items()}
        mb = data.nbytes / 1e6
        tables.append(
            table(
                f"full read, {workload} field {data.shape} float32, {mb:.0f} MB, chunks "
                f"{cfg.chunk_shape}, zstd ({len(seconds['xzarrio'])} rounds, medians)",
                ["reader", "median s", "min s", "MB/s", "time ÷ xzarrio"],
                [
                    [name, med[name], fastest[name], mb / med[name], med[name] / med["xzarrio"]]
                    for name in seconds
                ],
            )
        )
        figures[f"read_{workload}"] = {
            "mb_per_s": {name: mb / t for name, t in med.items()},
            "zarr_over_zio": med["zarr-python"] / med["xzarrio"],
            "zarr_over_zio_fastest": fastest["zarr-python"] / fastest["xzarrio"],
            "zarr_over_zio_unchunked": med["zarr-python"] / med["xzarrio, chunks=None"],
            "tensorstore_over_zio": (
                med["tensorstore"] / med["xzarrio"] if "tensorstore" in med else None
            ),
            "zarrs_over_zio": med["zarrs"] / med["xzarrio"] if "zarrs" in med else None,
            "xarray_over_zio": med["xarray"] / med["xzarrio"],
        }
    return {"tables": tables, "figures": figures}
