"""Write benchmark: ``ds.zio.to_zarr`` against xarray's own zarr write and h5py.

What is measured
----------------
The seed workload is one float32 field ``wvel(y, x)`` of 8000 x 7500 values drawn
from normal(2000, 1000) with a fixed seed (240 MB, 229 MiB), stored in chunks of
``--chunk-rows`` rows (default 2000) by the full width. Each contender writes it
to a fresh path on local disk; the wall time of the whole call (file creation,
compression, writing, closing) is taken with ``time.perf_counter``, and the
bytes on disk are summed afterwards. Contenders:

* ``xzarrio``: ``ds.zio.to_zarr(path, chunks={"y": rows}, compressor="zstd")``
  (zarr format 3, zstd level 3, consolidated metadata, atomic staging);
* ``xarray (dask)``: ``ds.chunk({"y": rows}).to_zarr(...)`` with the same codec
  and stored chunks (xarray's parallel path through dask);
* ``xarray (numpy)``: ``ds.to_zarr(...)`` from the in-memory dataset with the
  same encoding (zarr's own async/thread-pool path);
* ``h5py gzip-4``: one HDF5 dataset, same chunks, gzip level 4, single-threaded.

The contenders run interleaved in one process: in every round each one writes
once, then its output is deleted and the page cache is flushed (``os.sync``,
untimed). The order changes from round to round along a balanced Latin square,
so that no contender always follows the same one (a write right after h5py's
long one tends to be slower). An untimed warm-up round, whose outputs are read
back and checked, comes first.

Absolute times on a shared or noisy machine are noise: what matters are the
ratios measured side by side, above all the per-round ratios (each round's
times divided, then the median over rounds), which cancel slow drifts of the
machine.

Run ``python benchmarks/bench_write.py --help`` for the options; a quick check is
``python benchmarks/bench_write.py --shape 2000,1500 --repeats 2``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
import zarr.codecs

import xzarrio

# goals: speed-up of xzarrio (median time of the other ÷ median time of xzarrio)
GOAL_VS_XARRAY = 1.0
GOAL_VS_H5PY = 15.0

ZIO = "xzarrio"
XR_DASK = "xarray (dask)"
XR_NUMPY = "xarray (numpy)"
XR_FASTER = "xarray (faster path)"
H5PY = "h5py gzip-4"


@dataclass
class Contender:
    """One way of writing the dataset, and what its runs measured."""

    name: str
    slug: str
    suffix: str
    write: Callable[[Path], Any]
    seconds: list[float] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)


def parse_shape(text: str) -> tuple[int, int]:
    """``"8000,7500"`` -> ``(8000, 7500)``."""
    try:
        rows, cols = (int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape wants ROWS,COLS, got {text!r}") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"--shape sizes must be >= 1, got {text!r}")
    return rows, cols


def make_dataset(shape: tuple[int, int], seed: int) -> xr.Dataset:
    """The seed workload: float32 normal(2000, 1000) on dims (y, x)."""
    rng = np.random.default_rng(seed)
    data = rng.normal(2000.0, 1000.0, size=shape).astype(np.float32)
    return xr.Dataset({"wvel": (("y", "x"), data)})


def disk_bytes(path: Path) -> int:
    """Sum of the sizes of all files under *path* (or of the file *path*)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def remove(path: Path) -> None:
    """Delete a store directory or file."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def make_contenders(ds: xr.Dataset, rows: int) -> list[Contender]:
    """The four writes, as functions of the target path."""
    import h5py

    ncols = ds.sizes["x"]
    arr = ds["wvel"].values

    def encoding() -> dict[str, dict[str, Any]]:
        return {
            "wvel": {
                "compressors": (zarr.codecs.ZstdCodec(level=3),),
                "chunks": (rows, ncols),
            }
        }

    def zio(path: Path) -> Any:
        return ds.zio.to_zarr(path, chunks={"y": rows}, compressor="zstd")

    def xr_dask(path: Path) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
            return ds.chunk({"y": rows}).to_zarr(
                path, encoding=encoding(), zarr_format=3, consolidated=True
            )

    def xr_numpy(path: Path) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
            return ds.to_zarr(path, encoding=encoding(), zarr_format=3, consolidated=True)

    def h5(path: Path) -> Any:
        with h5py.File(path, "w") as f:
            f.create_dataset(
                "wvel", data=arr, chunks=(rows, ncols), compression="gzip", compression_opts=4
            )

    return [
        Contender(ZIO, "zio", ".zarr", zio),
        Contender(XR_DASK, "xr-dask", ".zarr", xr_dask),
        Contender(XR_NUMPY, "xr-numpy", ".zarr", xr_numpy),
        Contender(H5PY, "h5py", ".h5", h5),
    ]


def read_back(path: Path) -> np.ndarray:
    """The ``wvel`` array of a written store or HDF5 file."""
    if path.suffix == ".h5":
        import h5py

        with h5py.File(path, "r") as f:
            return np.asarray(f["wvel"][...])
    return np.asarray(zarr.open_array(str(path), path="wvel", mode="r")[...])


def run_once(c: Contender, path: Path, *, record: bool, expected: np.ndarray | None) -> None:
    """Write once to *path* (timed), measure it, optionally check it, delete it."""
    remove(path)
    gc.collect()
    start = time.perf_counter()
    result = c.write(path)
    elapsed = time.perf_counter() - start
    try:
        stored = disk_bytes(path)
        if expected is not None:
            got = read_back(path)
            if got.shape != expected.shape or not np.array_equal(got, expected):
                raise SystemExit(f"{c.name}: the data read back differ from the data written")
            if c.name == ZIO and not isinstance(result, xzarrio.WriteReport):
                kind = type(result).__name__
                raise SystemExit(f"{c.name}: to_zarr returned {kind}, not a WriteReport")
        if record:
            c.seconds.append(elapsed)
            c.stored.append(stored)
            if isinstance(result, xzarrio.WriteReport):
                for key, value in (
                    ("report_seconds", result.seconds),
                    ("report_nbytes", result.nbytes),
                    ("report_nbytes_stored", result.nbytes_stored),
                    ("report_ratio", result.ratio),
                ):
                    c.extra.setdefault(key, []).append(float(value))
    finally:
        remove(path)
        if hasattr(os, "sync"):
            os.sync()  # leave no dirty pages for the next contender to pay for


def round_orders(n: int) -> list[list[int]]:
    """A balanced Latin square (Williams design) of *n* contenders.

    Over *n* rounds (2 *n* for odd *n*) every contender takes every position
    equally often and directly follows every other one equally often.
    """
    first = [0]
    for k in range(1, n):
        first.append((k + 1) // 2 if k % 2 else n - k // 2)
    rows = [[(i + r) % n for i in first] for r in range(n)]
    if n % 2:
        rows += [row[::-1] for row in rows]
    return rows


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return 0 (the goals are reported, not enforced)."""
    parser = argparse.ArgumentParser(
        description="Time ds.zio.to_zarr against xarray's to_zarr and h5py gzip-4, side by side."
    )
    parser.add_argument(
        "--shape", type=parse_shape, default=(8000, 7500), help="ROWS,COLS (default 8000,7500)"
    )
    add = parser.add_argument
    add("--chunk-rows", type=int, default=2000, help="rows per stored chunk (default 2000)")
    add("--repeats", type=int, default=5, help="timed rounds (default 5)")
    add("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    add("--seed", type=int, default=42, help="seed of numpy's default_rng (default 42)")
    add("--dir", type=Path, default=None, help="where to write (default: a temporary directory)")
    add("--json", type=Path, default=None, help="also write the results to this JSON file")
    add("--no-verify", action="store_true", help="skip reading back the warm-up writes")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.chunk_rows < 1 or args.warmup < 0:
        parser.error("--repeats and --chunk-rows must be >= 1, --warmup >= 0")

    ds = make_dataset(args.shape, args.seed)
    logical = int(ds["wvel"].nbytes)
    rows = min(args.chunk_rows, args.shape[0])
    contenders = make_contenders(ds, rows)

    own_dir = args.dir is None
    workdir = Path(tempfile.mkdtemp(prefix="xzarrio-bench-")) if own_dir else args.dir
    workdir.mkdir(parents=True, exist_ok=True)

    import dask
    import h5py

    print(
        f"workload: wvel{args.shape} float32, {logical / 1e6:.1f} MB ({logical / 2**20:.1f} MiB), "
        f"stored chunks ({rows}, {args.shape[1]}), seed {args.seed}"
    )
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, xarray {xr.__version__}, "
        f"zarr {zarr.__version__}, dask {dask.__version__}, h5py {h5py.__version__} "
        f"(HDF5 {h5py.version.hdf5_version}), xzarrio {xzarrio.__version__}; "
        f"{os.cpu_count()} CPUs"
    )
    print(f"writing under {workdir}; {args.warmup} warm-up round(s), {args.repeats} timed round(s)")

    try:
        orders = round_orders(len(contenders))
        total = args.warmup + args.repeats
        for r in range(total):
            warm = r < args.warmup
            order = [contenders[i] for i in orders[max(r - args.warmup, 0) % len(orders)]]
            verify = r == 0 and not args.no_verify
            line = []
            for c in order:
                path = workdir / f"bench-{r}-{c.slug}{c.suffix}"
                expected = ds["wvel"].values if verify else None
                run_once(c, path, record=not warm, expected=expected)
                if not warm:
                    line.append(f"{c.name} {c.seconds[-1]:.2f}s")
            label = "warm-up" if warm else f"round {r - args.warmup + 1}/{args.repeats}"
            done = ", ".join(line) if line else "done"
            checked = " (outputs read back and verified)" if verify else ""
            print(f"  {label}: {done}{checked}", flush=True)
    finally:
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)

    by_name = {c.name: c for c in contenders}
    med = {c.name: median(c.seconds) for c in contenders}
    faster = XR_DASK if med[XR_DASK] <= med[XR_NUMPY] else XR_NUMPY

    # table
    header = (
        f"{'contender':<22} {'median s':>9} {'min s':>8} {'MB/s':>8} {'stored MB':>10} {'ratio':>6}"
    )
    print()
    print(header)
    print("-" * len(header))
    for c in contenders:
        stored = median(c.stored)
        speed = logical / 1e6 / med[c.name]
        mark = "  <- xarray (faster path)" if c.name == faster else ""
        print(
            f"{c.name:<22} {med[c.name]:>9.3f} {min(c.seconds):>8.3f} "
            f"{speed:>8.1f} {stored / 1e6:>10.2f} {logical / stored:>6.3f}{mark}"
        )
    zio = by_name[ZIO]
    if "report_seconds" in zio.extra:
        rs = zio.extra["report_seconds"]
        print(
            f"(xzarrio's own report: median {median(rs):.3f} s, "
            f"nbytes_stored {median(zio.extra['report_nbytes_stored']) / 1e6:.2f} MB, "
            f"ratio {median(zio.extra['report_ratio']):.3f})"
        )

    # speed-ups from the medians
    vs_xr = med[faster] / med[ZIO]
    vs_xr_dask = med[XR_DASK] / med[ZIO]
    vs_xr_numpy = med[XR_NUMPY] / med[ZIO]
    vs_h5 = med[H5PY] / med[ZIO]
    # per-round ratios, then their median (robust to slow drifts of the machine)
    rounds = zip(by_name[XR_DASK].seconds, by_name[XR_NUMPY].seconds, zio.seconds, strict=True)
    per_round_xr = [min(d, m) / z for d, m, z in rounds]
    per_round_h5 = [h / z for h, z in zip(by_name[H5PY].seconds, zio.seconds, strict=True)]

    def verdict(value: float, goal: float) -> str:
        return f"goal >= {goal:g}: {'met' if value >= goal else 'NOT met'}"

    print()
    print("speed-up of xzarrio (median time of other / median time of xzarrio):")
    print(
        f"  zio vs xarray same codec (faster path, {faster}): {vs_xr:6.2f}x   "
        f"{verdict(vs_xr, GOAL_VS_XARRAY)}"
    )
    print(f"      zio vs {XR_DASK:<15}: {vs_xr_dask:6.2f}x")
    print(f"      zio vs {XR_NUMPY:<15}: {vs_xr_numpy:6.2f}x")
    print(f"  zio vs h5py gzip-4: {vs_h5:6.2f}x   {verdict(vs_h5, GOAL_VS_H5PY)}")
    print("per-round ratios (each round's ratio, then the median over rounds):")
    rx, rh = median(per_round_xr), median(per_round_h5)
    print(
        f"  zio vs xarray same codec (faster path per round): {rx:6.2f}x   "
        f"{verdict(rx, GOAL_VS_XARRAY)}"
        f"   [{', '.join(f'{v:.2f}' for v in per_round_xr)}]"
    )
    print(
        f"  zio vs h5py gzip-4: {rh:6.2f}x   {verdict(rh, GOAL_VS_H5PY)}"
        f"   [{', '.join(f'{v:.2f}' for v in per_round_h5)}]"
    )

    if args.json is not None:
        result = {
            "workload": {
                "shape": list(args.shape),
                "dtype": "float32",
                "distribution": "normal(2000, 1000)",
                "seed": args.seed,
                "chunk_rows": rows,
                "nbytes": logical,
            },
            "repeats": args.repeats,
            "warmup": args.warmup,
            "environment": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "numpy": np.__version__,
                "xarray": xr.__version__,
                "zarr": zarr.__version__,
                "dask": dask.__version__,
                "h5py": h5py.__version__,
                "hdf5": h5py.version.hdf5_version,
                "xzarrio": xzarrio.__version__,
            },
            "contenders": {
                c.name: {
                    "seconds": c.seconds,
                    "median_seconds": med[c.name],
                    "min_seconds": min(c.seconds),
                    "mb_per_s": logical / 1e6 / med[c.name],
                    "stored_bytes": c.stored,
                    "ratio": logical / median(c.stored),
                    **({"report": c.extra} if c.extra else {}),
                }
                for c in contenders
            },
            "xarray_faster_path": faster,
            "speedups": {
                "zio_vs_xarray_faster_path": vs_xr,
                "zio_vs_xarray_dask": vs_xr_dask,
                "zio_vs_xarray_numpy": vs_xr_numpy,
                "zio_vs_h5py_gzip4": vs_h5,
                "per_round_zio_vs_xarray_faster_path": per_round_xr,
                "per_round_zio_vs_h5py_gzip4": per_round_h5,
                "per_round_median_zio_vs_xarray_faster_path": rx,
                "per_round_median_zio_vs_h5py_gzip4": rh,
            },
            "goals": {
                "zio_vs_xarray_faster_path": {
                    "goal": GOAL_VS_XARRAY,
                    "met": vs_xr >= GOAL_VS_XARRAY,
                },
                "zio_vs_h5py_gzip4": {"goal": GOAL_VS_H5PY, "met": vs_h5 >= GOAL_VS_H5PY},
            },
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
