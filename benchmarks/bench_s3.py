"""S3: xzarrio's transactional write to an object store against xarray's own write to it,
reaching the bucket through fsspec (s3fs, the default for URLs) and through obstore
(zarr's ``ObjectStore``, opt-in).

A moto S3 server runs on 127.0.0.1 in its own process (the test suite's
helper, ``tests/s3server.py``); every writer reaches it over loopback HTTP.
The workload is the seed field's first quarter (2000 x 7500 float32, 57 MiB,
stored chunks of 500 rows; quick: the quick field) with zstd-3 for all. Each
write is timed once per round along a balanced Latin square after one warm-up
round, medians over the rounds; every write runs through fsspec (a URL with
``storage_options``) and, where obstore is installed, through obstore (a store
object made before the timing starts, as a user makes it once):

- ``xarray w``: ``ds.to_zarr(store, mode="w")`` over an existing store;
- ``zio w-``: ``ds.zio.to_zarr(store)`` to a new store: written in place under
  a journal that notes it is new (a rollback deletes the prefix);
- ``zio w``: ``ds.zio.to_zarr(store, mode="w")`` over an existing store: staged
  in a sibling prefix, then copied into place (on the server) under an undo journal;
- ``xarray append`` / ``zio append``: an append of a quarter of the rows.

The ratios are ours ÷ xarray's time through the same client (above 1: slower),
and obstore's ÷ fsspec's time for each write. Each write's requests are
counted once more, untimed, through the suite's proxy (the second of two calls).
The limit beside them is the server: moto keeps objects in memory, one request
at a time per connection, so request counts, not bytes, set the time.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

import xzarrio

from common import Config, installed, interleaved, median, quiet, seed_field, table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.s3server import MotoServer, RefusingProxy, make_bucket, obstore_store, storage_options

FULL = (2000, 7500, 500)
QUICK = (1000, 750, 250)

#: the writes, each by its ratio's name: (ours, xarray's) run names
WRITES = {"new store (w-)": ("zio w-", "xarray w"), "replace (w)": ("zio w", "xarray w"),
          "append": ("zio append", "xarray append")}  # fmt: skip


#: the runs, by the name of their figures
RUN_KEYS = {"zio w-": "zio_new", "zio w": "zio_replace", "zio append": "zio_append",
            "xarray w": "xarray_replace", "xarray append": "xarray_append"}  # fmt: skip


def _dataset(cfg: Config) -> tuple[xr.Dataset, int]:
    rows, cols, chunk = QUICK if cfg.quick else FULL
    values = seed_field((rows, cols), cfg.seed)
    return xr.Dataset({"wvel": (("y", "x"), values)}), chunk


def _writes(
    ds: xr.Dataset, chunk: int, store: Callable[[str], Any], options: dict[str, Any]
) -> dict[str, Callable[[], Any]]:
    """The five writes, to the stores *store* names, with *options* for each call."""
    tail = ds.isel(y=slice(0, ds.sizes["y"] // 4))
    encoding = {"wvel": {"chunks": (chunk, ds.sizes["x"])}}
    for name in ("xarray-w", "zio-w", "xarray-append", "zio-append"):
        ds.to_zarr(store(name), mode="w", encoding=encoding, **options)
    there = {name: store(name) for name in ("xarray-w", "zio-w", "xarray-append", "zio-append")}
    return {
        "xarray w": lambda: ds.to_zarr(there["xarray-w"], mode="w", encoding=encoding,
                                       **options),
        "zio w-": lambda: ds.zio.to_zarr(store(f"new-{uuid.uuid4().hex[:8]}"),
                                         chunks={"y": chunk}, compressor="zstd", **options),
        "zio w": lambda: ds.zio.to_zarr(there["zio-w"], mode="w", chunks={"y": chunk},
                                        compressor="zstd", **options),
        "xarray append": lambda: tail.to_zarr(there["xarray-append"], append_dim="y",
                                              **options),
        "zio append": lambda: tail.zio.to_zarr(there["zio-append"], append_dim="y", **options),
    }  # fmt: skip


def run(cfg: Config) -> dict[str, Any]:
    ds, chunk = _dataset(cfg)
    clients = ["fsspec", "obstore"] if installed("obstore") else ["fsspec"]
    with MotoServer() as server:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        make_bucket(server.endpoint, bucket)
        made = {
            "fsspec": lambda name: f"s3://{bucket}/fsspec/{name}.zarr",
            # made before each timing, as a user makes a store object once
            "obstore": lambda name: obstore_store(server.endpoint, bucket, f"obstore/{name}.zarr"),
        }
        options = {"fsspec": {"storage_options": storage_options(server.endpoint)}, "obstore": {}}
        makers = {c: _Premade(made[c], cfg.repeats + 1) if c == "obstore" else made[c]
                  for c in clients}  # fmt: skip
        with quiet():
            runs = {
                f"{write} ({client})": call
                for client in clients
                for write, call in _writes(ds, chunk, makers[client], options[client]).items()
            }  # fmt: skip
            seconds = interleaved(runs, cfg.repeats)
        for client in clients:
            check = xzarrio.open_zarr(made[client]("zio-w"), **options[client])
            np.testing.assert_array_equal(check.wvel.values, ds.wvel.values)
        requests = _requests(ds, chunk, server.endpoint, bucket, clients)
    return _report(ds, seconds, requests, clients)


def _requests(
    ds: xr.Dataset, chunk: int, endpoint: str, bucket: str, clients: list[str]
) -> dict[str, int]:
    """The requests each write makes, counted once (untimed) through the suite's proxy."""
    counts = {}
    with RefusingProxy(endpoint) as proxy, quiet():
        made = {
            "fsspec": lambda name: f"s3://{bucket}/counted-fsspec/{name}.zarr",
            "obstore": lambda name: obstore_store(
                proxy.endpoint, bucket, f"counted-obstore/{name}.zarr"
            ),
        }
        options = {"fsspec": {"storage_options": storage_options(proxy.endpoint)}, "obstore": {}}
        for client in clients:
            maker = _Premade(made[client], 2) if client == "obstore" else made[client]
            for name, call in _writes(ds, chunk, maker, options[client]).items():
                call()  # once first: what a repeated call makes
                proxy.allow_all()
                call()
                counts[f"{name} ({client})"] = proxy.forwarded
    return counts


class _Premade:
    """A maker of obstore's stores by name, those of new stores made ahead: a store
    object costs milliseconds to make, which a user pays once, not per write."""

    def __init__(self, make: Callable[[str], Any], count: int) -> None:
        self.make = make
        self.ready = [make(f"new-{uuid.uuid4().hex[:8]}") for _ in range(count)]

    def __call__(self, name: str) -> Any:
        return self.ready.pop() if name.startswith("new-") else self.make(name)


def _report(
    ds: xr.Dataset, seconds: dict[str, list[float]], requests: dict[str, int], clients: list[str]
) -> dict[str, Any]:
    medians = {name: median(s) for name, s in seconds.items()}
    mb = ds.nbytes / 1e6
    figures: dict[str, Any] = {
        "mb": mb, "seconds": seconds, "clients": clients, "requests": requests
    }  # fmt: skip
    keys = {"new store (w-)": "zio_w_new_over_xarray_w", "replace (w)": "zio_w_over_xarray_w",
            "append": "zio_append_over_xarray_append"}  # fmt: skip
    ratio_rows = []
    for write, (ours, theirs) in WRITES.items():
        for client in clients:
            ratio = medians[f"{ours} ({client})"] / medians[f"{theirs} ({client})"]
            figures[keys[write] + ("" if client == "fsspec" else f"_{client}")] = ratio
            ratio_rows.append([f"{write} ÷ xarray, {client}", ratio])
    if "obstore" in clients:
        for run_name, key in RUN_KEYS.items():
            ratio = medians[f"{run_name} (obstore)"] / medians[f"{run_name} (fsspec)"]
            figures[f"obstore_over_fsspec_{key}"] = ratio
            ratio_rows.append([f"{run_name}: obstore ÷ fsspec", ratio])
    rows = [[name, medians[name], mb / medians[name], requests[name]] for name in seconds]
    times = table(
        f"write to S3 (moto on 127.0.0.1), {mb:.0f} MB",
        ["writer", "median s", "MB/s", "requests"],
        rows,
    )
    ratios = table("time ratios", ["write", "ratio"], ratio_rows)
    return {"figures": figures, "tables": [times, ratios]}
