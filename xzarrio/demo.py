"""``xzarrio demo``: the whole seed workflow on generated data, step by step.

What a reader of the classic zarr 2 tutorial looks for: the data size, the
parallel compressed write and its report, the provenance attributes, a field of
zeros that stores in a few kilobytes, the chunk-wise copy, the lazy reopen, and
the profiled ``(x**2 + x**3).mean`` reduction with its summary and picture.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from dask.callbacks import Callback
from dask.utils import format_bytes

from .errors import InvalidArgumentError, MissingDependencyError
from .integrity.verify import verify
from .reading import open_zarr
from .storeinfo import store_info

__all__ = ["run_demo"]


class _CountComputes(Callback):
    """Counts the dask computes started while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.computes = 0

    def _start(self, dsk: Any) -> None:
        self.computes += 1


def _check(shape: tuple[int, ...], chunks: int, workers: int | None) -> None:
    if len(shape) != 2 or min(shape) < 1:
        raise InvalidArgumentError(f"--shape wants two sizes >= 1 (ROWS,COLS), got {shape!r}")
    if chunks < 1:
        raise InvalidArgumentError(f"--chunks wants rows per stored chunk >= 1, got {chunks}")
    if workers is not None and workers < 1:
        raise InvalidArgumentError(f"--workers wants an integer >= 1, got {workers}")


def run_demo(
    *,
    shape: tuple[int, ...] = (8000, 7500),
    chunks: int = 2000,
    workers: int | None = None,
    folder: str | Path = "xzarrio-demo",
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the seed workflow into *folder* and tell each step; return its figures."""
    _check(shape, chunks, workers)
    where = Path(folder).expanduser().absolute()
    where.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def step(title: str) -> None:
        say(f"\n== {title} " + "=" * max(3, 68 - len(title)))

    data = np.random.default_rng(0).normal(2000, 1000, shape).astype("f4")
    ds = xr.Dataset({"wvel": (("y", "x"), data)}, attrs={"title": "xzarrio demo field"})
    step("data")
    say(f"wvel: {shape[0]} × {shape[1]} float32 from normal(2000, 1000), {format_bytes(ds.nbytes)}")

    step(f"write, {chunks} rows per chunk, every chunk compressed in parallel")
    report = ds.zio.to_zarr(
        where / "disk1_data",
        mode="w",
        chunks={"y": chunks},
        history="written for practice",
        num_workers=workers,
        progress=True,
    )
    say(repr(report))

    step("provenance attributes of disk1_data")
    say(str(report.provenance))

    step("a field of zeros of the same size")
    zeros = xr.zeros_like(ds).zio.to_zarr(
        where / "zeros", mode="w", chunks={"y": chunks}, num_workers=workers
    )
    say(
        f"{format_bytes(zeros.nbytes)} of zeros stored in {zeros.nbytes_stored:,} bytes "
        f"(ratio {zeros.ratio:,.0f})"
    )

    step("lazy reopen: metadata only")
    counter = _CountComputes()
    with counter:
        tic = time.perf_counter()
        lazy = open_zarr(where / "disk1_data")
        reopen_seconds = time.perf_counter() - tic
    say(
        f"reopened in {reopen_seconds * 1000:.1f} ms, {counter.computes} dask computes; "
        f"wvel is a dask array of {lazy.wvel.data.npartitions} chunks "
        f"{lazy.wvel.data.chunksize[0]} × {lazy.wvel.data.chunksize[1]}"
    )

    step("chunk-wise copy of disk1_data to disk2_data")
    copy = lazy.zio.to_zarr(
        where / "disk2_data",
        mode="w",
        history="copied from disk1_data",
        num_workers=workers,
        progress=True,
    )
    say(repr(copy))
    say("history of the copy, newest first:")
    for entry in copy.provenance.history:
        say(f"  {entry}")

    step("storage report of disk2_data")
    say(repr(store_info(where / "disk2_data")))

    step("integrity of disk2_data: every chunk read, checksums and digests")
    checked = verify(where / "disk2_data", num_workers=workers)
    say(checked.summary())

    step("profiled reduction (x**2 + x**3).mean over y")
    result, profile = lazy.wvel.zio.reduce(
        "mean", dim="y", transform=lambda x: x**2 + x**3, num_workers=workers
    )
    say(f"result: {result.sizes['x']} values; first three {np.round(result.values[:3], 1)}")
    say(profile.summary())

    step("pictures")
    saved: dict[str, str] = {}
    try:
        saved["profile"] = str(profile.save_html(where / "profile.html"))
        say(f"timeline page (tasks by kind, CPU, memory) : {saved['profile']}")
        saved["figure"] = str(profile.save_figure(where / "profile.png"))
        say(f"timeline picture                           : {saved['figure']}")
    except MissingDependencyError as error:
        say(f"no timeline picture: {error}")
    if shutil.which("dot") is not None:
        try:
            graph = lazy.wvel.zio.graph(
                lambda x: (x**2 + x**3).mean("y"), filename=where / "graph.svg"
            )
            saved["graph"] = str(graph)
            say(f"task graph                    : {graph}")
        except MissingDependencyError as error:
            say(f"no task graph: {error}")
    else:
        say("no task graph: Graphviz's 'dot' program is not installed")

    total = time.perf_counter() - started
    step("done")
    say(f"demo took {total:.1f} s; stores and pictures are in {where}")
    return {
        "seconds": total,
        "write": report,
        "zeros_stored": zeros.nbytes_stored,
        "copy": copy,
        "verified": checked,
        "profile": profile,
        "saved": saved,
        "folder": str(where),
    }
