"""S3: xzarrio's transactional write to an object store against xarray's own write to it.

A moto S3 server runs on 127.0.0.1 in its own process (the test suite's
helper, ``tests/s3server.py``); both writers reach it through s3fs over
loopback HTTP. The workload is the seed field's first quarter (2000 x 7500
float32, 57 MiB, stored chunks of 500 rows; quick: the quick field) with zstd-3
for both. Four writes, each timed once per round along a balanced Latin
square after one warm-up round, medians over the rounds:

- ``xarray w``: ``ds.to_zarr(url, mode="w")`` over an existing store;
- ``zio w-``: ``ds.zio.to_zarr(url)`` to a new store: written in place under
  a journal that notes it is new (a rollback deletes the prefix);
- ``zio w``: ``ds.zio.to_zarr(url, mode="w")`` over an existing store: staged
  in a sibling prefix, then copied into place under an undo journal;
- ``xarray append`` / ``zio append``: an append of a quarter of the rows.

The ratios are ours ÷ xarray's time (above 1: slower). The limit beside them is
the server: moto keeps objects in memory, one request at a time per
connection, so request counts, not bytes, set the time.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

import xzarrio

from common import Config, interleaved, median, quiet, seed_field, table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.s3server import MotoServer, make_bucket, storage_options

FULL = (2000, 7500, 500)
QUICK = (1000, 750, 250)


def _dataset(cfg: Config) -> tuple[xr.Dataset, int]:
    rows, cols, chunk = QUICK if cfg.quick else FULL
    values = seed_field((rows, cols), cfg.seed)
    return xr.Dataset({"wvel": (("y", "x"), values)}), chunk


def run(cfg: Config) -> dict[str, Any]:
    ds, chunk = _dataset(cfg)
    tail = ds.isel(y=slice(0, ds.sizes["y"] // 4))
    encoding = {"wvel": {"chunks": (chunk, ds.sizes["x"])}}
    with MotoServer() as server:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        make_bucket(server.endpoint, bucket)
        options = storage_options(server.endpoint)
        url = f"s3://{bucket}"

        def fresh(name: str) -> str:
            return f"{url}/{name}-{uuid.uuid4().hex[:8]}.zarr"

        with quiet():
            for name in ("xarray-w", "zio-w", "xarray-append", "zio-append"):
                ds.to_zarr(f"{url}/{name}.zarr", mode="w", encoding=encoding,
                           storage_options=options)  # fmt: skip
            runs = {
                "xarray w": lambda: ds.to_zarr(f"{url}/xarray-w.zarr", mode="w",
                                               encoding=encoding, storage_options=options),
                "zio w-": lambda: ds.zio.to_zarr(fresh("zio-new"), chunks={"y": chunk},
                                                 storage_options=options),
                "zio w": lambda: ds.zio.to_zarr(f"{url}/zio-w.zarr", mode="w",
                                                chunks={"y": chunk}, storage_options=options),
                "xarray append": lambda: tail.to_zarr(f"{url}/xarray-append.zarr",
                                                      append_dim="y", storage_options=options),
                "zio append": lambda: tail.zio.to_zarr(f"{url}/zio-append.zarr",
                                                       append_dim="y", storage_options=options),
            }  # fmt: skip
            seconds = interleaved(runs, cfg.repeats)
        check = xzarrio.open_zarr(f"{url}/zio-w.zarr", storage_options=options)
        np.testing.assert_array_equal(check.wvel.values, ds.wvel.values)
    medians = {name: median(s) for name, s in seconds.items()}
    mb = ds.nbytes / 1e6
    figures = {
        "mb": mb,
        "seconds": seconds,
        "zio_w_new_over_xarray_w": medians["zio w-"] / medians["xarray w"],
        "zio_w_over_xarray_w": medians["zio w"] / medians["xarray w"],
        "zio_append_over_xarray_append": medians["zio append"] / medians["xarray append"],
    }
    rows = [[name, medians[name], mb / medians[name]] for name in runs]
    times = table(
        f"write to S3 (moto on 127.0.0.1), {mb:.0f} MB", ["writer", "median s", "MB/s"], rows
    )
    ratios = table(
        "ours ÷ xarray's time",
        ["write", "ratio"],
        [
            ["new store (w-) ÷ xarray w", figures["zio_w_new_over_xarray_w"]],
            ["replace (w) ÷ xarray w", figures["zio_w_over_xarray_w"]],
            ["append ÷ xarray append", figures["zio_append_over_xarray_append"]],
        ],
    )
    return {"figures": figures, "tables": [times, ratios]}
