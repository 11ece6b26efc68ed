"""xzarrio's performance suite: one command, a table per section, the goals, and a JSON file.

    python benchmarks/run.py                     # full size (about 10-15 minutes on 2 cores)
    python benchmarks/run.py --quick             # small sizes, one round: keeps the suite working
    python benchmarks/run.py --only write,reduce --repeats 7 --json results.json

Sections: ``write`` (against xarray, zarr, h5py, netCDF4; per codec; against the
machine's limit), ``read`` (a full read against zarr-python, xarray and
tensorstore), ``reduce`` (from the store against numpy in memory and h5py;
profiling's cost), ``reopen`` (against store size and number of variables),
``copy`` (peak memory against store size), ``rechunk`` (time steps to time
series in bounded memory, against a copy and xarray), ``integrity`` (what
checksums and digests cost a write; verify against a read), ``scaling`` (threads), ``s3`` (the
transactional write to a local S3 server against xarray's own), ``fixed`` (a seed write, a
one-chunk region write, a one-step append and a new small store, each ÷ xarray's), ``size`` (the
default codec, keepbits and compressor="auto" against netCDF4). Absolute times
on a shared machine are noise: read the ratios, measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Config, environment, installed, table

SECTIONS = (
    "write", "read", "reduce", "reopen", "copy", "rechunk", "integrity", "scaling", "s3", "fixed",
    "size",
)  # fmt: skip
NEEDS = {
    "write": ("h5py", "netCDF4"), "reduce": ("h5py", "distributed"),
    "s3": ("s3fs", "moto", "boto3"), "fixed": ("h5py", "netCDF4"), "size": ("netCDF4",),
}  # fmt: skip

# name, section, where in the figures, the goal as (comparison, value)
GOALS: list[tuple[str, str, Callable[[dict[str, Any]], float], str, float]] = [
    ("zio vs xarray same codec, faster path (seed)", "write",
     lambda f: f["write_seed"]["zio_vs_xarray_faster"], ">=", 1.0),
    ("zio vs h5py gzip-4 (seed)", "write",
     lambda f: f["write_seed"]["zio_vs_h5py_gzip4"], ">=", 15.0),
    ("write ÷ limit, zstd (seed)", "write",
     lambda f: f["codecs_seed"]["zstd"]["write_over_limit"], ">=", 0.8),
    ("full read: zarr-python's time ÷ ours (seed)", "read",
     lambda f: f["read_seed"]["zarr_over_zio"], ">=", 1.0),
    ("profiled ÷ plain reduce", "reduce", lambda f: f["profiled_over_plain"], "<=", 1.10),
    ("reads checked ÷ unchecked, seed reduction", "reduce",
     lambda f: f["checked_over_unchecked_reads"], "<=", 1.02),
    ("parallel efficiency (CPU), seed reduction", "reduce",
     lambda f: f["seed_parallel_efficiency"], ">=", 0.7),
    ("parallel efficiency (CPU), pure-Python function", "reduce",
     lambda f: f["gil_function_parallel_efficiency"], "<=", 0.65),
    ("reduce from store vs numpy in memory", "reduce",
     lambda f: f["reduce_store_vs_numpy"], ">=", 1.0),
    ("reopen time, 100x store ÷ 1x", "reopen", lambda f: f["reopen_100x_over_1x"], "<=", 1.5),
    ("copy peak RSS, 4x store ÷ 1x", "copy", lambda f: f["copy_peak_4x_over_1x"], "<=", 1.2),
    ("rechunk peak RSS, 4x store ÷ 1x", "rechunk",
     lambda f: f["rechunk_peak_4x_over_1x"], "<=", 1.15),
    ("rechunk peak RSS (4x) ÷ max_mem + floor + 150 MiB", "rechunk",
     lambda f: f["rechunk_peak_over_bound_4x"], "<=", 1.0),
    ("write with checksums ÷ without (seed chunks)", "integrity",
     lambda f: f[f"checksums_over_none_{f['chunk_rows']}"], "<=", 1.05),
    ("verify ÷ plain read", "integrity", lambda f: f["verify_over_read"], "<=", 1.25),
    ("one-chunk region write ÷ xarray's", "fixed", lambda f: f["region_over_xarray"], "<=", 2.0),
    ("one-step append ÷ xarray's", "fixed", lambda f: f["append_over_xarray"], "<=", 1.5),
    ("new small store ÷ xarray's", "fixed", lambda f: f["small_over_xarray"], "<=", 1.5),
    ("default codec stored ÷ netCDF4 zlib-4 shuffle (smooth)", "size",
     lambda f: f["default_over_netcdf_stored_smooth"], "<=", 1.0),
    ("netCDF4 zlib-4 shuffle time ÷ default codec (smooth)", "size",
     lambda f: f["netcdf_over_default_time_smooth"], ">=", 10.0),
    ("default codec time ÷ zstd's (seed)", "size",
     lambda f: f["default_over_zstd_time_seed"], "<=", 1 / 0.95),
    ("keepbits auto: lossless default ÷ rounded, least field", "size",
     lambda f: f["keepbits_smaller_than_lossless_least"], ">=", 3.0),
    ("keepbits auto: largest error, halves of the last kept bit", "size",
     lambda f: f["keepbits_error_half_units_worst"], "<=", 1.0),
    ("netCDF4 BitRound stored ÷ ours, same bits, least field", "size",
     lambda f: f["netcdf_bitround_over_default_stored_least"], ">=", 1.0),
    ("netCDF4 BitRound time ÷ ours, same bits, least field", "size",
     lambda f: f["netcdf_bitround_over_default_time_least"], ">=", 10.0),
    ("compressor auto stored ÷ default, worst field", "size",
     lambda f: f["auto_over_default_stored_worst"], "<=", 1.0),
    ("compressor auto time ÷ fastest codec's (seed)", "size",
     lambda f: f["auto_over_fastest_time_seed"], "<=", 1.1),
]  # fmt: skip

# figures reported beside the goals, without one
OTHERS: list[tuple[str, str, Callable[[dict[str, Any]], float]]] = [
    ("zio vs xarray same codec, faster path (smooth)", "write",
     lambda f: f["write_smooth"]["zio_vs_xarray_faster"]),
    ("full read: zarr-python's time ÷ ours (smooth)", "read",
     lambda f: f["read_smooth"]["zarr_over_zio"]),
    ("full read: zarr-python's time ÷ ours, fastest rounds (seed)", "read",
     lambda f: f["read_seed"]["zarr_over_zio_fastest"]),
    ("full read: zarr-python's time ÷ ours, chunks=None (seed)", "read",
     lambda f: f["read_seed"]["zarr_over_zio_unchunked"]),
    ("full read: tensorstore's time ÷ ours (seed)", "read",
     lambda f: f["read_seed"]["tensorstore_over_zio"]),
    ("full read: zarrs' time ÷ ours (seed)", "read", lambda f: f["read_seed"]["zarrs_over_zio"]),
    ("write: zarrs' time ÷ ours (seed)", "write", lambda f: f["write_seed"].get("zio_vs_zarrs")),
    ("write: tensorstore's time ÷ ours (seed)", "write",
     lambda f: f["write_seed"].get("zio_vs_tensorstore")),
    ("zio vs h5py gzip-4 (smooth)", "write", lambda f: f["write_smooth"]["zio_vs_h5py_gzip4"]),
    ("zio vs netCDF4 zlib-4 (seed)", "write", lambda f: f["write_seed"]["zio_vs_netcdf4_zlib4"]),
    ("write ÷ limit, zstd (smooth)", "write",
     lambda f: f["codecs_smooth"]["zstd"]["write_over_limit"]),
    ("reduce from store vs h5py + numpy", "reduce", lambda f: f["reduce_store_vs_h5py_numpy"]),
    ("reduce from an lz4 store vs numpy in memory", "reduce",
     lambda f: f["reduce_lz4_store_vs_numpy"]),
    ("reduce from an uncompressed store vs numpy in memory", "reduce",
     lambda f: f["reduce_uncompressed_store_vs_numpy"]),
    ("A/A: plain ÷ plain reduce (the noise)", "reduce", lambda f: f["plain_over_plain"]),
    ("dask's stock profilers ÷ plain", "reduce", lambda f: f["dask_profilers_over_plain"]),
    ("profiled ÷ plain reduce on a distributed.Client", "reduce",
     lambda f: f["client_profiled_over_plain"]),
    ("reopen time, 100x store grown by 99 appends ÷ 1x", "reopen",
     lambda f: f["reopen_100x_appended_over_1x"]),
    ("reopen zio ÷ xarray (1x store)", "reopen", lambda f: f["reopen_zio_over_xarray_1x"]),
    ("reopen ms, 200 variables", "reopen", lambda f: f["reopen_ms_200_variables"]),
    ("write speed-up, all cores ÷ 1 thread", "scaling",
     lambda f: f[f"write_speedup_{max(f['threads'])}"]),
    ("reduce speed-up, all cores ÷ 1 thread", "scaling",
     lambda f: f[f"reduce_speedup_{max(f['threads'])}"]),
    ("rechunk ÷ copy in the same chunks (4x)", "rechunk", lambda f: f["rechunk_over_copy_4x"]),
    ("rechunk ÷ xarray's rechunk (4x)", "rechunk", lambda f: f["rechunk_over_xarray_4x"]),
    ("write with checksums ÷ without (quarter chunks)", "integrity",
     lambda f: f[f"checksums_over_none_{f['chunk_rows'] // 4}"]),
    ("write with digests ÷ without (seed chunks)", "integrity",
     lambda f: f[f"digests_over_none_{f['chunk_rows']}"]),
    ("zarr array with zarr's crc32c ÷ without (seed chunks)", "integrity",
     lambda f: f[f"zarr_crc32c_over_none_{f['chunk_rows']}"]),
    ("verify ÷ zarr's own read", "integrity", lambda f: f["verify_over_zarr_read"]),
    ("verify quick ÷ plain read", "integrity", lambda f: f["quick_verify_over_read"]),
    ("one-step append to a long store ÷ xarray's", "fixed",
     lambda f: f["append_long_over_xarray"]),
    ("a template filled by processes ÷ xarray's", "fixed", lambda f: f["fill_over_xarray"]),
    ("S3 new store ÷ xarray w", "s3", lambda f: f["zio_w_new_over_xarray_w"]),
    ("S3 replace ÷ xarray w", "s3", lambda f: f["zio_w_over_xarray_w"]),
    ("S3 append ÷ xarray append", "s3", lambda f: f["zio_append_over_xarray_append"]),
    ("S3 new store, obstore ÷ fsspec", "s3",
     lambda f: f.get("obstore_over_fsspec_zio_new", math.nan)),
    ("S3 replace, obstore ÷ fsspec", "s3",
     lambda f: f.get("obstore_over_fsspec_zio_replace", math.nan)),
    ("S3 append, obstore ÷ fsspec", "s3",
     lambda f: f.get("obstore_over_fsspec_zio_append", math.nan)),
    ("seed write ÷ xarray (numpy), adjacent pairs", "fixed", lambda f: f["seed_over_xarray"]),
    ("keepbits auto ÷ the same bits given, write time, worst field", "size",
     lambda f: f["keepbits_auto_over_given_time_worst"]),
    ("netCDF4 BitRound stored ÷ ours with compressor auto, least field", "size",
     lambda f: f["netcdf_bitround_over_auto_stored_least"]),
    ("netCDF4 BitRound time ÷ ours with compressor auto, least field", "size",
     lambda f: f["netcdf_bitround_over_auto_time_least"]),
]  # fmt: skip


def parse_sections(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"--only takes a comma-separated list of {', '.join(SECTIONS)}; got {text!r}"
        )
    return names


def check_imports(sections: Sequence[str]) -> None:
    missing = sorted({m for s in sections for m in NEEDS.get(s, ()) if not installed(m)})
    if missing:
        raise SystemExit(
            f"the benchmarks need {', '.join(missing)}: pip install 'xzarrio[bench]' "
            "(or pip install -e '.[bench]' in a checkout)"
        )


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The goals and the other headline figures of the sections that ran."""
    rows: list[list[Any]] = []
    goals: dict[str, Any] = {}
    for name, section, get, op, goal in GOALS:
        if section not in results:
            continue
        value = get(results[section]["figures"])
        met = value >= goal if op == ">=" else value <= goal
        rows.append([name, value, f"{op} {goal:g}", "met" if met else "NOT met"])
        goals[name] = {"value": value, "goal": f"{op} {goal:g}", "met": met}
    for name, section, get in OTHERS:
        if section in results:
            value = get(results[section]["figures"])
            rows.append([name, value, "", ""])
            goals[name] = {"value": value}
    table("summary", ["figure", "reached", "goal", ""], rows)
    return goals


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (5; quick: 1)")
    parser.add_argument(
        "--only", type=parse_sections, default=list(SECTIONS), help=",".join(SECTIONS)
    )
    parser.add_argument(
        "--dir", type=Path, default=None,
        help="where to write, on a local disk (default: a temporary directory)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated fields")
    parser.add_argument(
        "--json", type=Path, default=Path("xzarrio-bench.json"),
        help="results file (default xzarrio-bench.json)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    if repeats < 1:
        parser.error("--repeats must be >= 1")
    check_imports(args.only)

    import importlib

    own = args.dir is None
    workdir = Path(tempfile.mkdtemp(prefix="xzarrio-bench-")) if own else args.dir
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = Config(quick=args.quick, repeats=repeats, workdir=workdir, seed=args.seed)
    env = environment()
    print(
        f"xzarrio {env['xzarrio']} performance suite: {'quick' if cfg.quick else 'full'} size, "
        f"{repeats} round(s), sections {', '.join(args.only)}"
    )
    print(
        f"machine: {env['processor']}, {env['cpus']} CPUs, {env['memory_gib']} GiB; "
        f"{env['platform']}"
    )
    print(
        "versions: "
        + ", ".join(f"{k} {env[k]}" for k in ("python", "numpy", "xarray", "zarr", "dask",
                                               "numcodecs", "h5py", "hdf5", "netCDF4") if k in env)
    )  # fmt: skip
    results: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        for name in args.only:
            print(f"\n=== {name}", flush=True)
            t0 = time.perf_counter()
            results[name] = importlib.import_module(f"bench_{name}").run(cfg)
            results[name]["wall_seconds"] = time.perf_counter() - t0
            print(f"({name}: {results[name]['wall_seconds']:.0f} s)", flush=True)
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    goals = summary(results)
    wall = time.perf_counter() - started
    if cfg.quick:
        print("(quick sizes only show that the suite works: the goals are for the full run)")
    print(f"\nsuite: {wall:.0f} s")
    out = {
        "command": measured_command(list(argv or sys.argv[1:])),
        "quick": cfg.quick,
        "repeats": repeats,
        "shape": list(cfg.shape),
        "chunk_rows": cfg.chunk_rows,
        "seed": cfg.seed,
        "environment": env,
        "wall_seconds": wall,
        "summary": goals,
        "sections": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1, default=_jsonable) + "\n")
    print(f"results written to {args.json}")
    return 0


def measured_command(argv: list[str]) -> str:
    """The command as the figures depend on it: where it wrote and the JSON's path left out.

    >>> measured_command(["--only", "rechunk", "--dir", "/scratch/b", "--json=out.json"])
    'python benchmarks/run.py --only rechunk'
    """
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--dir", "--json"):
            skip = True
        elif not arg.startswith(("--dir=", "--json=")):
            kept.append(arg)
    return " ".join(["python benchmarks/run.py", *kept])


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
