"""Thread scaling: the write and the reduction on 1, 2, 4, ... up to all cores.

The seed field (``Config.shape``, stored chunks of ``Config.chunk_rows`` rows) is
written with ``.zio.to_zarr(..., num_workers=n)`` (zstd), and the store's
``(x**2 + x**3).mean("y")`` is computed with ``.zio.reduce(..., num_workers=n)``,
for each thread count *n*, interleaved (a balanced Latin square). Speed-up is
the time on one thread ÷ the time on *n*; efficiency is speed-up ÷ *n*. A
store of *k* chunks keeps at most *k* threads busy, so this section stores
chunks of a quarter of ``Config.chunk_rows`` (16 chunks at full size).
"""

from __future__ import annotations

from typing import Any

import xarray as xr

import xzarrio

from common import Config, flush, interleaved, median, remove, seed_field, table


def thread_counts(cores: int) -> list[int]:
    """1, 2, 4, ... and *cores* itself."""
    counts = []
    n = 1
    while n < cores:
        counts.append(n)
        n *= 2
    return [*counts, cores]


def run(cfg: Config) -> dict[str, Any]:
    data = seed_field(cfg.shape, cfg.seed)
    ds = xr.Dataset({"wvel": (("y", "x"), data)})
    counts = thread_counts(cfg.cores)
    rows_per_chunk = max(1, cfg.chunk_rows // 4)
    target = cfg.path("scaling-write.zarr")
    source = cfg.path("scaling-read.zarr")
    ds.zio.to_zarr(source, chunks={"y": rows_per_chunk}, compressor="zstd")
    wvel = xzarrio.open_zarr(source).wvel

    def write(n: int) -> Any:
        return lambda: ds.zio.to_zarr(
            target, chunks={"y": rows_per_chunk}, compressor="zstd", num_workers=n
        )

    def reduce(n: int) -> Any:
        def go() -> None:
            wvel.zio.reduce("mean", dim="y", transform=lambda x: x**2 + x**3, num_workers=n)

        return go

    def after(name: str) -> None:
        if name.startswith("write"):
            remove(target)
            flush()

    runs = {f"write {n}": write(n) for n in counts}
    runs.update({f"reduce {n}": reduce(n) for n in counts})
    try:
        seconds = interleaved(runs, cfg.repeats, warmup=1, after=after)
    finally:
        wvel.close()
        remove(target)
        remove(source)
    chunks = -(-cfg.shape[0] // rows_per_chunk)
    rows = []
    figures: dict[str, Any] = {"threads": counts, "seconds": seconds, "stored_chunks": chunks}
    w1, r1 = median(seconds["write 1"]), median(seconds["reduce 1"])
    for n in counts:
        w, r = median(seconds[f"write {n}"]), median(seconds[f"reduce {n}"])
        rows.append([n, w, w1 / w, w1 / w / n, r, r1 / r, r1 / r / n])
        figures[f"write_speedup_{n}"] = w1 / w
        figures[f"reduce_speedup_{n}"] = r1 / r
    return {
        "tables": [
            table(
                f"thread scaling on {cfg.cores} cores, seed field {cfg.shape} in {chunks} "
                f"stored chunks ({cfg.repeats} rounds, medians)",
                [
                    "threads",
                    "write s",
                    "write speed-up",
                    "efficiency",
                    "reduce s",
                    "reduce speed-up",
                    "efficiency",
                ],
                rows,
            )
        ],
        "figures": figures,
    }
