"""The seed workflow: write 229 MiB in parallel with provenance, reopen, copy, reduce.

Run it as ``python examples/seed_workflow.py [--dir DIR] [--shape 8000,7500] [--chunks 2000]``.
Stores go to DIR (default: a temporary directory, removed at the end).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr
from dask.utils import format_bytes

import xzarrio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where the stores go")
    parser.add_argument("--shape", default="8000,7500", help="rows,columns of the field")
    parser.add_argument("--chunks", type=int, default=2000, help="rows per stored chunk")
    args = parser.parse_args(argv)
    shape = tuple(int(n) for n in args.shape.split(","))

    with tempfile.TemporaryDirectory() as scratch:
        where = args.dir or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)

        data = np.random.default_rng(0).normal(2000, 1000, shape).astype("f4")
        ds = xr.Dataset({"wvel": (("y", "x"), data)})
        print(f"data: {shape[0]} x {shape[1]} float32 = {format_bytes(ds.nbytes)}")

        print("\n== write, every chunk compressed in parallel ==")
        report = ds.zio.to_zarr(
            where / "disk1_data",
            mode="w",
            chunks={"y": args.chunks},
            history="written for practice",
        )
        print(report)

        print("\n== provenance attributes ==")
        print(report.provenance)

        print("\n== a field of zeros compresses to almost nothing ==")
        zeros = xr.zeros_like(ds)
        zreport = zeros.zio.to_zarr(where / "zeros", mode="w", chunks={"y": args.chunks})
        print(f"{format_bytes(zreport.nbytes)} of zeros stored in {zreport.nbytes_stored:,} bytes")

        print("\n== reopen lazily: metadata only ==")
        start = time.perf_counter()
        lazy = xzarrio.open_zarr(where / "disk1_data")
        seconds = time.perf_counter() - start
        kind = type(lazy.wvel.data).__module__.split(".")[0]
        print(f"reopened in {seconds:.3f} s; wvel is a {kind} array with chunks {lazy.wvel.chunks}")

        print("\n== copy chunk by chunk into a new store ==")
        copy = lazy.zio.to_zarr(where / "disk2_data", mode="w", history="copied from disk1_data")
        print(copy)
        print(copy.provenance)

        print("\n== storage report ==")
        print(xzarrio.info(where / "disk2_data"))

        print("\n== profiled reduction (x**2 + x**3).mean over y, on all cores ==")
        result, profile = lazy.wvel.zio.reduce("mean", dim="y", transform=lambda x: x**2 + x**3)
        print(f"result: {result.sizes['x']} values, first {float(result[0]):.6g}")
        print(profile.summary())
        out = args.dir or Path.cwd()
        try:
            page = profile.save_html(out / "profile.html")
            print(f"\nCPU / memory / cache timeline saved to {page}")
        except ImportError as error:
            print(f"\n(no timeline picture: {error})")
        try:
            picture = lazy.wvel.zio.graph(
                lambda x: (x**2 + x**3).mean("y"), filename=out / "graph.svg"
            )
            print(f"task graph saved to {picture}")
        except ImportError as error:
            print(f"(no task graph: {error})")
        if args.dir:
            print(f"\nstores are in {where}")


if __name__ == "__main__":
    main()
