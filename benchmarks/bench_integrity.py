"""Integrity: what checksums and digests cost a write, and how fast ``verify`` reads.

The seed field (``Config.shape`` float32, zstd level 3) is written by
``ds.zio.to_zarr`` in stored chunks of ``Config.chunk_rows`` rows and of a
quarter of that, by the full width, in adjacent pairs of rounds (the order
alternating, each pair's ratio taken: the machine's drifts cancel in it):

* **checksum cost**: the default write (crc32c on every chunk, digests) ÷ the
  same write with ``checksums=False`` (digests still);
* **digest cost**: ``checksums=False`` ÷ the same write with zarr's own
  codec pipeline selected (xzarrio then takes no digests);
* **zarr's crc32c**, for comparison: a plain zarr array written with
  ``[zstd, crc32c]`` ÷ ``[zstd]``, once with zarr's own crc32c codec selected
  in zarr's registry and once with xzarrio's.

Then ``xzarrio.verify`` of the store written (every chunk read, checksummed,
decoded and its digest compared), and ``verify(quick=True)``, each ÷ a plain
read of the same store (``xzarrio.open_zarr(...).load()``, dask's threads),
and ``verify`` ÷ zarr's own read of the array (``array[...]``, zarr's
asynchronous reads), as adjacent pairs again; beside them the read rates in
GB/s of data decoded: the store's read rate is the limit a check can reach.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
from zarr.codecs import Crc32cCodec as ZarrCrc32cCodec
from zarr.codecs import ZstdCodec
from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.registry import register_pipeline

import xzarrio
from xzarrio.integrity.checksums import Crc32cCodec

from common import Config, flush, median, paired_ratios, quiet, remove, seed_field, table


class UndigestedPipeline(BatchedCodecPipeline):
    """zarr's own pipeline under another name: with it selected, xzarrio takes no digests."""


register_pipeline(UndigestedPipeline)


def _selected(settings: dict[str, Any], write: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with zarr.config.set(settings):
            return write()

    return run


def _write(ds: xr.Dataset, path: Path, rows: int, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        remove(path)
        flush()
        return ds.zio.to_zarr(path, chunks={"y": rows}, compressor="zstd", **kwargs)

    return run


def _zarr_write(data: np.ndarray, path: Path, rows: int, crc: Any) -> Callable[[], Any]:
    def run() -> None:
        remove(path)
        flush()
        array = zarr.create_array(
            path, shape=data.shape, chunks=(rows, data.shape[1]), dtype=data.dtype,
            compressors=[ZstdCodec(level=3), *([crc] if crc is not None else [])],
        )  # fmt: skip
        array[...] = data

    return run


def _pairs(name: str, base: Callable[[], Any], other: Callable[[], Any], cfg: Config) -> list[Any]:
    """One row: the medians of *base* and *other* and of their paired ratio."""
    base_s, other_s, ratios = paired_ratios(base, other, 2 * cfg.repeats + 1)
    print(f"  {name}: {median(ratios):.3f}", flush=True)
    return [name, median(base_s), median(other_s), median(ratios)]


def _write_costs(cfg: Config, data: np.ndarray, rows: int) -> list[list[Any]]:
    ds = xr.Dataset({"wvel": (("y", "x"), data)})
    path = cfg.workdir / "integrity-write.zarr"
    undigested = {"codec_pipeline.path": f"{__name__}.UndigestedPipeline"}
    zarrs = {"codecs.crc32c": "zarr.codecs.crc32c_.Crc32cCodec"}
    plain = _zarr_write(data, path, rows, None)
    try:
        return [
            _pairs(f"{rows} rows: checksums ÷ none", _write(ds, path, rows, checksums=False),
                   _write(ds, path, rows), cfg),
            _pairs(f"{rows} rows: digests ÷ none",
                   _selected(undigested, _write(ds, path, rows, checksums=False)),
                   _write(ds, path, rows, checksums=False), cfg),
            _pairs(f"{rows} rows: zarr array, zarr's crc32c ÷ none", plain,
                   _selected(zarrs, _zarr_write(data, path, rows, ZarrCrc32cCodec())), cfg),
            _pairs(f"{rows} rows: zarr array, xzarrio's crc32c ÷ none", plain,
                   _zarr_write(data, path, rows, Crc32cCodec()), cfg),
        ]  # fmt: skip
    finally:
        remove(path)


def _verify_rates(cfg: Config, data: np.ndarray) -> tuple[list[list[Any]], dict[str, float]]:
    path = cfg.path("integrity-verify.zarr")
    xr.Dataset({"wvel": (("y", "x"), data)}).zio.to_zarr(path, chunks={"y": cfg.chunk_rows})
    try:
        report = xzarrio.verify(path)
        assert report.ok and report.chunks_checked == -(-data.shape[0] // cfg.chunk_rows)

        def read() -> None:
            xzarrio.open_zarr(path).load(scheduler="threads")

        def zarr_read() -> None:
            zarr.open_array(path, path="wvel")[...]

        rows = [
            _pairs("verify ÷ read", read, lambda: xzarrio.verify(path), cfg),
            _pairs("verify ÷ zarr's read", zarr_read, lambda: xzarrio.verify(path), cfg),
            _pairs("verify quick ÷ read", read, lambda: xzarrio.verify(path, quick=True), cfg),
        ]
        rates = {"read_gb_per_s": data.nbytes / rows[0][1] / 1e9}
        rates["zarr_read_gb_per_s"] = data.nbytes / rows[1][1] / 1e9
        return rows, rates
    finally:
        remove(path)


def run(cfg: Config) -> dict[str, Any]:
    data = seed_field(cfg.shape, cfg.seed)
    figures: dict[str, Any] = {"cores": cfg.cores, "chunk_rows": cfg.chunk_rows}
    rows: list[list[Any]] = []
    with quiet():
        for rows_per_chunk in (cfg.chunk_rows, cfg.chunk_rows // 4):
            costs = _write_costs(cfg, data, rows_per_chunk)
            rows += costs
            for label, (_, _, _, ratio) in zip(
                ("checksums", "digests", "zarr_crc32c", "xzarrio_crc32c"), costs, strict=True
            ):
                figures[f"{label}_over_none_{rows_per_chunk}"] = ratio
        verify_rows, rates = _verify_rates(cfg, data)
    rows += verify_rows
    figures["verify_over_read"] = verify_rows[0][3]
    figures["verify_over_zarr_read"] = verify_rows[1][3]
    figures["quick_verify_over_read"] = verify_rows[2][3]
    figures.update(rates)
    tables = [
        table(
            f"integrity: the seed field {cfg.shape[0]} x {cfg.shape[1]} float32, zstd; "
            f"{cfg.cores} cores; read rate {rates['read_gb_per_s']:.2f} GB/s "
            f"(zarr's own {rates['zarr_read_gb_per_s']:.2f} GB/s)",
            ["pair", "base s", "other s", "other ÷ base (median of pairs)"],
            rows,
        )
    ]
    return {"figures": figures, "tables": tables}
