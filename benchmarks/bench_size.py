"""Smaller stores: the default codec, ``keepbits`` and ``compressor="auto"``, against netCDF4.

Fields: the seed noise and the smooth field (``Config.shape`` float32, stored
chunks of ``Config.chunk_rows`` rows), and the climate-like fields of
:func:`xzarrio.samples.climate_fields` (``tas``, ``huss``, ``pr``; 32 days at
0.25 degrees, 133 MB each; quick: 4 days at 1 degree), one store per variable,
a stored chunk per day. Every write is timed in rounds interleaved along a
balanced Latin square (the medians are reported), stored bytes are the files'.

* **codecs**: ``.zio.to_zarr`` with the default codec, with its bit-shuffling
  twin ``"blosc-zstd-bit"``, with ``"zstd"`` (the default before), ``"lz4"``
  (the fastest named codec), ``compressor="auto"``,
  and netCDF4-python writing one netCDF-4 variable with zlib level 4 and its
  default byte shuffle, in the same chunks.
* **keepbits**: ``.zio.to_zarr(keepbits="auto")`` (information 0.99, the bits
  measured within the timed write) against the lossless default, and the
  write of the bits it chose (``keepbits=N``) with the default codec and with
  ``compressor="auto"`` against netCDF4's BitRound at the same bits
  (``significant_digits=N``, ``quantize_mode="BitRound"``, zlib-4 and shuffle).
  Every stored value is read back and checked to be within half a unit in its
  last kept bit of the original.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

import xzarrio  # noqa: F401  (the accessor)
from xzarrio.rounding import bitround
from xzarrio.samples import climate_fields

from common import (
    WORKLOADS,
    Config,
    disk_bytes,
    flush,
    interleaved,
    median,
    quiet,
    remove,
    table,
)  # fmt: skip

DEFAULT = "default"
NC = "netCDF4 zlib-4 shuffle"
NC_ROUND = "netCDF4 BitRound zlib-4 shuffle"
BITS = "keepbits (auto's)"
BITS_AUTO = "keepbits (auto's), compressor auto"
CODECS = (DEFAULT, "blosc-zstd-bit", "zstd", "lz4", "auto")


def _zio(ds: xr.Dataset, chunks: dict[str, int], **kwargs: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with quiet():
            ds.zio.to_zarr(path, chunks=chunks, **kwargs)

    return write


def _netcdf(
    name: str, data: np.ndarray, chunks: tuple[int, ...], keepbits: int | None = None
) -> Callable[[Path], None]:
    import netCDF4

    def write(path: Path) -> None:
        with netCDF4.Dataset(path, "w", format="NETCDF4") as f:
            dims = [f"d{i}" for i in range(data.ndim)]
            for dim, size in zip(dims, data.shape, strict=True):
                f.createDimension(dim, size)
            rounding = {"significant_digits": keepbits, "quantize_mode": "BitRound"}
            var = f.createVariable(
                name, "f4", dims, zlib=True, complevel=4, shuffle=True, chunksizes=chunks,
                **(rounding if keepbits is not None else {}),
            )  # fmt: skip
            var.set_auto_maskandscale(False)
            var[...] = data

    return write


def _time(
    cfg: Config, writes: dict[str, tuple[str, Callable[[Path], None]]], var: str, tag: str
) -> tuple[dict[str, float], dict[str, int], dict[str, Path]]:
    """Median seconds and stored bytes of variable *var* of each write (the last round's
    files kept)."""
    paths = {
        name: cfg.workdir / f"{tag}-{i}{suffix}"
        for i, (name, (suffix, _)) in enumerate(writes.items())
    }

    def run(name: str) -> Callable[[], None]:
        def again() -> None:
            remove(paths[name])
            writes[name][1](paths[name])

        return again

    # each write starts with no other's bytes still on their way to the disk
    seconds = interleaved({name: run(name) for name in writes}, cfg.repeats, after=_flushed)
    # a zarr store's own: its array's folder (the root's history line differs with the call)
    stored = {
        name: disk_bytes(path / var if (path / var).is_dir() else path)
        for name, path in paths.items()
    }
    return {name: median(s) for name, s in seconds.items()}, stored, paths


def _flushed(_name: str) -> None:
    flush()


def _fields(cfg: Config) -> dict[str, tuple[np.ndarray, tuple[int, ...]]]:
    """Each field and its stored chunk shape."""
    fields = {
        name: (make(cfg.shape, cfg.seed), cfg.chunk_shape) for name, make in WORKLOADS.items()
    }
    days, ny, nx = (4, 181, 360) if cfg.quick else (32, 721, 1440)
    climate = climate_fields(days, ny, nx, seed=cfg.seed)
    for name in ("tas", "huss", "pr"):
        fields[name] = (climate[name].values, (1, ny, nx))
    return fields


def _dataset(name: str, data: np.ndarray) -> tuple[xr.Dataset, dict[str, int]]:
    dims = ("y", "x") if data.ndim == 2 else ("time", "lat", "lon")
    return xr.Dataset({name: (dims, data)}), dict(zip(dims, data.shape, strict=True))


def _codec_rows(cfg: Config, fields: dict[str, Any]) -> tuple[list[list[Any]], dict[str, Any]]:
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {}
    for field, (data, chunks) in fields.items():
        ds, _ = _dataset(field, data)
        layout = dict(zip(ds[field].dims, chunks, strict=True))
        writes = {c: (".zarr", _zio(ds, layout, compressor=c)) for c in CODECS}
        writes[NC] = (".nc", _netcdf(field, data, chunks))
        seconds, stored, _ = _time(cfg, writes, field, f"codec-{field}")
        mb = data.nbytes / 1e6
        for name in writes:
            rows.append([field, name, seconds[name], mb / seconds[name], stored[name] / 1e6,
                         stored[name] / stored[NC], seconds[NC] / seconds[name]])  # fmt: skip
        figures[field] = {"seconds": seconds, "stored_bytes": stored, "raw_bytes": data.nbytes}
    return rows, figures


def _max_error_in_half_units(stored: np.ndarray, original: np.ndarray, keepbits: int) -> float:
    """The largest error of a normal value, in halves of a unit in its last kept bit."""
    normal = np.abs(original) >= np.finfo(original.dtype).smallest_normal
    _, exponent = np.frexp(original[normal].astype("f8"))
    half_unit = np.ldexp(1.0, exponent - keepbits - 2)
    error = np.abs(stored[normal].astype("f8") - original[normal].astype("f8"))
    return float(np.max(error / half_unit, initial=0.0))


def _keepbits_rows(
    cfg: Config, fields: dict[str, Any], lossless: dict[str, Any]
) -> tuple[list[list[Any]], dict[str, Any]]:
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {}
    for field in ("tas", "huss", "pr"):
        data, chunks = fields[field]
        ds, _ = _dataset(field, data)
        layout = dict(zip(ds[field].dims, chunks, strict=True))
        probe = cfg.workdir / f"probe-{field}.zarr"
        remove(probe)
        _zio(ds, layout, keepbits="auto")(probe)
        bits = int(xr.open_zarr(probe)[field].attrs["quantization_nsb"])
        remove(probe)
        writes = {
            BITS: (".zarr", _zio(ds, layout, keepbits=bits)),
            BITS_AUTO: (".zarr", _zio(ds, layout, keepbits=bits, compressor="auto")),
            "keepbits auto": (".zarr", _zio(ds, layout, keepbits="auto")),
            NC_ROUND: (".nc", _netcdf(field, data, chunks, bits)),
        }
        seconds, stored, paths = _time(cfg, writes, field, f"bits-{field}")
        back = xr.open_zarr(paths["keepbits auto"])[field].values
        error = _max_error_in_half_units(back, data, bits)
        assert np.array_equal(back, bitround(data, bits)), field
        plain = lossless[field]["stored_bytes"][DEFAULT]
        for name in writes:
            size = stored[name]
            rows.append([field, bits, name, seconds[name], size / 1e6, plain / size,
                         size / stored[NC_ROUND], seconds[NC_ROUND] / seconds[name]])  # fmt: skip
        figures[field] = {
            "keepbits": bits, "seconds": seconds, "stored_bytes": stored,
            "lossless_default_bytes": plain, "max_error_half_units": error,
        }  # fmt: skip
    return rows, figures


def run(cfg: Config) -> dict[str, Any]:
    fields = _fields(cfg)
    codec_rows, codecs = _codec_rows(cfg, fields)
    bit_rows, bits = _keepbits_rows(cfg, fields, codecs)
    seed, smooth = codecs["seed"], codecs["smooth"]
    fastest_on_seed = min(seed["seconds"][c] for c in CODECS if c != "auto")
    figures: dict[str, Any] = {
        "codecs": codecs,
        "keepbits": bits,
        "default_over_netcdf_stored_smooth": smooth["stored_bytes"][DEFAULT]
        / smooth["stored_bytes"][NC],
        "netcdf_over_default_time_smooth": smooth["seconds"][NC] / smooth["seconds"][DEFAULT],
        "default_over_zstd_time_seed": seed["seconds"][DEFAULT] / seed["seconds"]["zstd"],
        "auto_over_default_stored_worst": max(
            codecs[f]["stored_bytes"]["auto"] / codecs[f]["stored_bytes"][DEFAULT] for f in codecs
        ),
        "auto_over_fastest_time_seed": seed["seconds"]["auto"] / fastest_on_seed,
        "keepbits_smaller_than_lossless_least": min(
            b["lossless_default_bytes"] / b["stored_bytes"]["keepbits auto"] for b in bits.values()
        ),
        "keepbits_auto_over_given_time_worst": max(
            b["seconds"]["keepbits auto"] / b["seconds"][BITS] for b in bits.values()
        ),
        "keepbits_error_half_units_worst": max(b["max_error_half_units"] for b in bits.values()),
    }
    for label, write in (("default", BITS), ("auto", BITS_AUTO)):
        figures[f"netcdf_bitround_over_{label}_stored_least"] = min(
            b["stored_bytes"][NC_ROUND] / b["stored_bytes"][write] for b in bits.values()
        )
        figures[f"netcdf_bitround_over_{label}_time_least"] = min(
            b["seconds"][NC_ROUND] / b["seconds"][write] for b in bits.values()
        )
    tables = [
        table(
            f"codecs: stored size and write time, {cfg.cores} cores (medians of {cfg.repeats})",
            ["field", "write", "median s", "MB/s", "stored MB", "stored ÷ netCDF4's",
             "netCDF4's time ÷ this"],
            codec_rows,
        ),
        table(
            "keepbits='auto' (information 0.99) against the lossless default and netCDF4's "
            "BitRound at the same bits",
            ["field", "bits kept", "write", "median s", "stored MB", "lossless default ÷ this",
             "stored ÷ netCDF4 BitRound's", "netCDF4 BitRound's time ÷ this"],
            bit_rows,
        ),
    ]  # fmt: skip
    return {"figures": figures, "tables": tables}
