"""Write: ``ds.zio.to_zarr`` against every anchor, per codec, and against the machine's limit.

Workloads: the seed field (float32 normal(2000, 1000): noise, barely
compressible) and a smooth field (a sum of sines plus small noise, as climate
fields are), both ``Config.shape`` in stored chunks of ``Config.chunk_rows`` rows
by the full width. Every write goes to a fresh path on the work directory and is
timed whole (creating, compressing, writing, closing); its bytes on disk are
summed afterwards; between runs the output is deleted and dirty pages are
written back (untimed).

Anchors, all with the same stored chunks:

* ``xzarrio``: ``ds.zio.to_zarr(path, chunks=..., compressor="zstd")`` (zstd level 3,
  zarr format 3, consolidated metadata, staged and swapped in);
* ``xarray (numpy)``: ``ds.to_zarr`` of the in-memory Dataset, same codec
  (zarr's own asynchronous write, its thread pool compressing);
* ``xarray (dask)``: ``ds.chunk(...).to_zarr``, same codec (dask's threads);
* ``zarr array``: ``zarr.create_array`` then ``array[...] = data``, same codec;
* ``h5py gzip-4`` and ``h5py lzf``: one HDF5 dataset (HDF5 compresses on one thread);
* ``netCDF4 zlib-4``: one netCDF-4 variable, zlib level 4;
* peers where they are installed (``pip install tensorstore zarrs``):
  ``zarrs``, the ``zarr array`` write with zarrs' codec pipeline (Rust), and
  ``tensorstore``, its ``zarr3`` driver writing the array (C++), same codec.

Every anchor's first write is read back and compared with the data (untimed),
then the timed rounds run interleaved in the order of a balanced Latin square.

Per named codec (blosc-zstd, blosc-zstd-bit, zstd, lz4, blosc, gzip, none),
``.zio.to_zarr`` is timed the same way and set against the machine's limit: the
codec's encode rate on one thread (one stored chunk, encoded ``repeats`` times,
the median) and the rate at which
the disk takes uncompressed bytes (each chunk's bytes written to its own file
by ``cores`` threads). The limit is ``min(n x encode rate, raw write rate)``, *n*
the cores or the stored chunks, whichever are fewer (no more chunks compress at
once), and the figure is xzarrio's write rate divided by it. Beside it, "by hand" is
the barest chunked write (each chunk encoded by the codec and written to its own
file, ``cores`` threads, no zarr): it counts, as the limit does not, that
writing bytes costs CPU time on the same cores.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import xarray as xr
import zarr
import zarr.codecs

from xzarrio.codecs import COMPRESSOR_NAMES, resolve_compressors

from common import (
    WORKLOADS,
    Config,
    disk_bytes,
    flush,
    installed,
    interleaved,
    median,
    quiet,
    remove,
    table,
    tensorstore_spec,
    timed,
    zarrs_pipeline,
)

ZIO = "xzarrio"
XR_NUMPY = "xarray (numpy)"
XR_DASK = "xarray (dask)"
ZARR = "zarr array"
H5_GZIP = "h5py gzip-4"
H5_LZF = "h5py lzf"
NC_ZLIB = "netCDF4 zlib-4"
ZARRS = "zarrs"
TENSORSTORE = "tensorstore"
#: every named codec ("default" is "blosc-zstd" on these float32 fields; "auto" chooses
#: among them, measured in the size section)
CODECS = [name for name in COMPRESSOR_NAMES if name not in ("default", "auto")]


def anchors(data: np.ndarray, chunks: tuple[int, int]) -> dict[str, tuple[str, Callable]]:
    """The writes to compare, each a function of the target path, with its file suffix."""
    import h5py
    import netCDF4

    ds = xr.Dataset({"wvel": (("y", "x"), data)})
    rows = chunks[0]

    def encoding() -> dict[str, dict[str, Any]]:
        return {"wvel": {"compressors": (zarr.codecs.ZstdCodec(level=3),), "chunks": chunks}}

    def xr_numpy(path: Path) -> None:
        with quiet():
            ds.to_zarr(path, encoding=encoding(), zarr_format=3, consolidated=True)

    def xr_dask(path: Path) -> None:
        with quiet():
            ds.chunk({"y": rows}).to_zarr(
                path, encoding=encoding(), zarr_format=3, consolidated=True
            )

    def zarr_array(path: Path) -> None:
        array = zarr.create_array(
            str(path),
            shape=data.shape,
            dtype=data.dtype,
            chunks=chunks,
            compressors=zarr.codecs.ZstdCodec(level=3),
            zarr_format=3,
        )
        array[...] = data

    def h5(compression: str, opts: int | None) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            with h5py.File(path, "w") as f:
                f.create_dataset(
                    "wvel", data=data, chunks=chunks, compression=compression,
                    compression_opts=opts,
                )  # fmt: skip

        return write

    def nc(path: Path) -> None:
        with netCDF4.Dataset(path, "w", format="NETCDF4") as f:
            f.createDimension("y", data.shape[0])
            f.createDimension("x", data.shape[1])
            var = f.createVariable(
                "wvel", "f4", ("y", "x"), zlib=True, complevel=4, chunksizes=chunks
            )
            var.set_auto_maskandscale(False)
            var[...] = data

    writes: dict[str, tuple[str, Callable]] = {
        ZIO: (".zarr", _zio_writer(data, rows, "zstd")),
        XR_NUMPY: (".zarr", xr_numpy),
        XR_DASK: (".zarr", xr_dask),
        ZARR: (".zarr", zarr_array),
        H5_GZIP: (".h5", h5("gzip", 4)),
        H5_LZF: (".h5", h5("lzf", None)),
        NC_ZLIB: (".nc", nc),
    }
    if installed("zarrs"):

        def zarrs_array(path: Path) -> None:
            with zarrs_pipeline():
                zarr_array(path)

        writes[ZARRS] = (".zarr", zarrs_array)
    if installed("tensorstore"):
        writes[TENSORSTORE] = (".zarr", _tensorstore_writer(data, chunks))
    return writes


def _tensorstore_writer(data: np.ndarray, chunks: tuple[int, int]) -> Callable[[Path], None]:
    """tensorstore's ``zarr3`` driver writing *data* as one array, zstd level 3."""
    import tensorstore

    metadata = {
        "shape": list(data.shape),
        "data_type": "float32",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "codecs": [
            {"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "zstd", "configuration": {"level": 3, "checksum": False}},
        ],
    }

    def write(path: Path) -> None:
        spec = {**tensorstore_spec(path), "metadata": metadata}
        array = tensorstore.open(spec, create=True, delete_existing=True).result()
        array.write(data).result()

    return write


def read_back(path: Path) -> np.ndarray:
    """The ``wvel`` array of a written zarr store, HDF5 file or netCDF file."""
    if path.suffix in (".h5", ".nc"):
        import h5py  # netCDF-4 files are HDF5 files

        with h5py.File(path, "r") as f:
            return np.asarray(f["wvel"][...])
    with quiet():
        if (path / "wvel").exists():
            return np.asarray(zarr.open_group(str(path), mode="r")["wvel"][...])
        return np.asarray(zarr.open_array(str(path), mode="r")[...])


def _time_writes(
    cfg: Config, writes: dict[str, tuple[str, Callable]], expected: np.ndarray, tag: str
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Verify each write once, then time all of them interleaved; seconds and bytes stored."""
    paths = {name: cfg.workdir / f"{tag}-{i}{suffix}" for i, (name, (suffix, _)) in
             enumerate(writes.items())}  # fmt: skip
    stored: dict[str, int] = {}
    for name, (_suffix, write) in writes.items():
        path = paths[name]
        remove(path)
        try:
            write(path)
            got = read_back(path)
            if got.shape != expected.shape or not np.array_equal(got, expected):
                raise SystemExit(f"{name}: the data read back differ from the data written")
            stored[name] = disk_bytes(path)
        finally:
            remove(path)
        flush()

    def runner(name: str) -> Callable[[], None]:
        return lambda: writes[name][1](paths[name])

    def after(name: str) -> None:
        remove(paths[name])
        flush()

    try:
        seconds = interleaved(
            {name: runner(name) for name in writes}, cfg.repeats, warmup=0, after=after
        )
    finally:
        for path in paths.values():
            remove(path)
    return seconds, stored


def encode_rate(name: str, chunk: np.ndarray, repeats: int) -> float | None:
    """MB/s of the named codec encoding one chunk on one thread (``None``: no codec)."""
    codecs = resolve_compressors(name, 2, chunk.dtype)  # numcodecs twins of the zarr 3 codecs
    if not codecs:
        return None
    (codec,) = codecs
    threads = numcodecs.blosc.use_threads
    numcodecs.blosc.use_threads = False  # one thread, as inside a write's worker threads
    try:
        codec.encode(chunk)  # warm
        seconds = median([timed(lambda: codec.encode(chunk)) for _ in range(max(repeats, 3))])
    finally:
        numcodecs.blosc.use_threads = threads
    return chunk.nbytes / 1e6 / seconds


def by_hand_rate(cfg: Config, data: np.ndarray, name: str) -> float:
    """MB/s of the barest chunked write: each chunk encoded and written to its own file.

    ``cores`` threads, the codec's numcodecs twin, no zarr, no metadata: what any
    chunked writer on this machine can reach at best. Unlike the limit, it
    counts that writing the bytes takes CPU time too, on the same cores. With
    ``"none"`` it is the raw write rate: the rate at which the disk takes the
    uncompressed chunks.
    """
    codecs = resolve_compressors(name, 2, data.dtype)
    rows = cfg.chunk_rows
    bands = [np.ascontiguousarray(data[i : i + rows]) for i in range(0, data.shape[0], rows)]
    folder = cfg.workdir / "by-hand"

    def write_all() -> None:
        folder.mkdir()

        def one(i: int) -> None:
            encoded: Any = bands[i]
            for codec in codecs:
                encoded = codec.encode(encoded)
            with open(folder / str(i), "wb") as f:
                f.write(memoryview(encoded).cast("B"))

        with ThreadPoolExecutor(cfg.cores) as pool:
            list(pool.map(one, range(len(bands))))

    seconds = []
    try:
        for _ in range(max(cfg.repeats, 3) + 1):
            remove(folder)
            flush()
            seconds.append(timed(write_all))
    finally:
        remove(folder)
    flush()
    return data.nbytes / 1e6 / median(seconds[1:])


def run(cfg: Config) -> dict[str, Any]:
    """Both workloads: the anchors, then each codec against the limit."""
    tables: list[dict[str, Any]] = []
    figures: dict[str, Any] = {}
    raw_rate: float | None = None
    for workload, make in WORKLOADS.items():
        data = make(cfg.shape, cfg.seed)
        mb = data.nbytes / 1e6
        title = f"{workload} field {data.shape} float32, {mb:.0f} MB, chunks {cfg.chunk_shape}"

        # --- the anchors
        seconds, stored = _time_writes(cfg, anchors(data, cfg.chunk_shape), data, workload)
        med = {name: median(s) for name, s in seconds.items()}
        faster = XR_NUMPY if med[XR_NUMPY] <= med[XR_DASK] else XR_DASK
        rows = [
            [name, med[name], min(s), mb / med[name], stored[name] / 1e6,
             data.nbytes / stored[name], med[name] / med[ZIO]]
            for name, s in seconds.items()
        ]  # fmt: skip
        tables.append(
            table(
                f"write, {title} ({cfg.repeats} rounds, medians)",
                ["contender", "median s", "min s", "MB/s", "stored MB", "ratio", "time ÷ zio"],
                rows,
            )
        )
        per_round_xr = [
            min(a, b) / z
            for a, b, z in zip(seconds[XR_NUMPY], seconds[XR_DASK], seconds[ZIO], strict=True)
        ]
        per_round_h5 = [h / z for h, z in zip(seconds[H5_GZIP], seconds[ZIO], strict=True)]
        figures[f"write_{workload}"] = {
            "seconds": seconds,
            "stored_bytes": stored,
            "xarray_faster_path": faster,
            "zio_mb_per_s": mb / med[ZIO],
            "zio_vs_xarray_faster": med[faster] / med[ZIO],
            "zio_vs_xarray_faster_per_round_median": median(per_round_xr),
            "zio_vs_xarray_numpy": med[XR_NUMPY] / med[ZIO],
            "zio_vs_xarray_dask": med[XR_DASK] / med[ZIO],
            "zio_vs_zarr_array": med[ZARR] / med[ZIO],
            "zio_vs_h5py_gzip4": med[H5_GZIP] / med[ZIO],
            "zio_vs_h5py_gzip4_per_round_median": median(per_round_h5),
            "zio_vs_h5py_lzf": med[H5_LZF] / med[ZIO],
            "zio_vs_netcdf4_zlib4": med[NC_ZLIB] / med[ZIO],
            **{
                f"zio_vs_{peer}": med[peer] / med[ZIO]
                for peer in (ZARRS, TENSORSTORE)
                if peer in med
            },
        }
        print(
            f"xzarrio vs xarray's faster path ({faster}): {med[faster] / med[ZIO]:.2f}x "
            f"(per-round median {median(per_round_xr):.2f}x); vs h5py gzip-4: "
            f"{med[H5_GZIP] / med[ZIO]:.1f}x (per-round median {median(per_round_h5):.1f}x)"
        )

        # --- each codec, and the limit
        if raw_rate is None:
            raw_rate = by_hand_rate(cfg, data, "none")
        chunk = np.ascontiguousarray(data[: cfg.chunk_rows])
        # no more chunks compress at once than there are cores, or chunks
        threads = min(cfg.cores, -(-data.shape[0] // cfg.chunk_rows))
        writes = {name: (".zarr", _zio_writer(data, cfg.chunk_rows, name)) for name in CODECS}
        seconds, stored = _time_writes(cfg, writes, data, f"{workload}-codec")
        rows = []
        per_codec: dict[str, Any] = {}
        for name in CODECS:
            t = median(seconds[name])
            rate = mb / t
            enc = encode_rate(name, chunk, cfg.repeats)
            limit = raw_rate if enc is None else min(threads * enc, raw_rate)
            hand = by_hand_rate(cfg, data, name) if name != "none" else raw_rate
            rows.append(
                [name, t, rate, stored[name] / 1e6, data.nbytes / stored[name], enc, limit,
                 hand, rate / limit, rate / hand]
            )  # fmt: skip
            per_codec[name] = {
                "seconds": seconds[name],
                "mb_per_s": rate,
                "stored_bytes": stored[name],
                "ratio": data.nbytes / stored[name],
                "encode_mb_per_s_one_thread": enc,
                "limit_mb_per_s": limit,
                "write_over_limit": rate / limit,
                "by_hand_mb_per_s": hand,
                "write_over_by_hand": rate / hand,
            }
        tables.append(
            table(
                f"xzarrio per codec, {title}; raw write {raw_rate:,.0f} MB/s with "
                f"{cfg.cores} threads; limit = min({threads} x encode, raw write)",
                ["codec", "median s", "MB/s", "stored MB", "ratio", "encode MB/s (1 thread)",
                 "limit MB/s", "by hand MB/s", "write ÷ limit", "write ÷ by hand"],
                rows,
            )
        )  # fmt: skip
        figures[f"codecs_{workload}"] = per_codec
    figures["raw_write_mb_per_s"] = raw_rate
    return {"tables": tables, "figures": figures}


def _zio_writer(data: np.ndarray, rows: int, codec: str) -> Callable[[Path], None]:
    ds = xr.Dataset({"wvel": (("y", "x"), data)})

    def write(path: Path) -> None:
        with quiet():
            ds.zio.to_zarr(path, chunks={"y": rows}, compressor=codec)

    return write
