"""The plan of a rechunk: every variable's new chunks and blocks, and the tasks at once.

Building it writes nothing: it is data, a frozen :class:`RechunkPlan`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import xarray as xr
from dask.utils import format_bytes, parse_bytes

from ..chunks import check_chunks, encoded_chunks, is_int, kept_chunks
from ..errors import ArgumentTypeError, ChunkMemoryError, InvalidArgumentError, InvalidChunksError
from ..options import resolve_num_workers
from ..running import is_distributed_client
from ..writing import as_dataset
from .layout import ArrayLayout, layout_of

__all__ = ["BUFFERS", "RechunkPlan", "plan_rechunk"]

#: block-sized buffers one task holds at its peak: the block, its decoded or
#: encoded copy, and the chunks in flight through the codecs
BUFFERS = 4


@dataclass(frozen=True, kw_only=True)
class RechunkPlan:
    """How a rechunk moves every variable, decided before anything is written."""

    #: the stored chunks of every variable with dims (dimension coordinates aside)
    targets: Mapping[Hashable, tuple[int, ...]]
    #: the variables whose shards are kept (their chunks are the ones they were read with)
    sharded: frozenset[Hashable]
    #: the blocks read and written of every dask variable
    arrays: Mapping[Hashable, ArrayLayout]
    #: how many tasks run at once
    running: int

    @property
    def passes(self) -> int:
        """2 where any variable goes through an intermediate array, else 1."""
        return max((layout.passes for layout in self.arrays.values()), default=1)


def plan_rechunk(
    obj: xr.Dataset | xr.DataArray,
    chunks: Mapping[Hashable, int | None] | None = None,
    *,
    max_mem: int | str = "1GiB",
    num_workers: int | None = None,
    scheduler: Any = None,
) -> RechunkPlan:
    """How :meth:`Dataset.zio.rechunk <xarray.Dataset.zio.rechunk>` would move *obj* to
    *chunks* within *max_mem*; writes nothing.

    A task holds about ``BUFFERS`` (4) times its block at its peak, so a chunk
    over a quarter of *max_mem* is refused; where the chunks' buffers do not
    fit once per worker, fewer tasks run at once (on a ``distributed.Client``,
    whose threads all run, that is refused too).

    >>> import dask.array, xarray as xr
    >>> data = dask.array.zeros((1000, 200, 300), chunks=(10, 200, 300), dtype="f4")
    >>> ds = xr.Dataset({"t": (("time", "y", "x"), data)})
    >>> p = plan_rechunk(ds, {"time": -1, "y": 20, "x": 30}, max_mem="256MiB", num_workers=2)
    >>> p.passes, p.arrays["t"].read, p.arrays["t"].intermediate, p.arrays["t"].write
    (2, (100, 200, 300), (100, 20, 300), (1000, 20, 300))
    """
    ds = as_dataset(obj)
    if chunks is not None and not isinstance(chunks, Mapping):
        raise InvalidChunksError(
            f"chunks={chunks!r} is not understood; expected a dict {{dim: size}} (-1: the "
            "whole dimension, None: its current chunks)"
        )
    check_chunks(ds, chunks)
    targets, sharded = _target_chunks(ds, chunks)
    on_client = is_distributed_client(scheduler)
    workers = sum(scheduler.nthreads().values()) if on_client else resolve_num_workers(num_workers)
    units = {
        name: tuple(ds.variables[name].encoding["shards"]) if name in sharded else chunk
        for name, chunk in targets.items()
    }
    arrays, running = _layouts(ds, units, _max_mem_bytes(max_mem), workers, on_client)
    return RechunkPlan(targets=targets, sharded=sharded, arrays=arrays, running=running)


def _max_mem_bytes(max_mem: Any) -> int:
    """*max_mem* in bytes: an integer, or a size such as ``"1GiB"`` or ``"500MB"``."""
    if is_int(max_mem):
        size = int(max_mem)
    elif isinstance(max_mem, str):
        try:
            size = int(parse_bytes(max_mem))
        except ValueError:
            raise InvalidArgumentError(
                f"max_mem={max_mem!r} is not a size; expected bytes or a string such as "
                "'1GiB' or '500MB'"
            ) from None
    else:
        raise ArgumentTypeError(
            f"max_mem={max_mem!r} is not a size; expected bytes or a string such as '1GiB'"
        )
    if size < 1:
        raise InvalidArgumentError(f"max_mem={max_mem!r} must be at least 1 byte")
    return size


def _target_chunks(
    ds: xr.Dataset, chunks: Any
) -> tuple[dict[Hashable, tuple[int, ...]], frozenset[Hashable]]:
    """The stored chunks of every variable with dims, dimension coordinates aside (the
    write gives them theirs): the dims *chunks* names, the kept ones elsewhere; and the
    variables that keep their shards (none of their chunks changed)."""
    asked = dict(chunks or {})
    result = {}
    sharded = set()
    for name, var in ds.variables.items():
        if var.ndim == 0 or isinstance(var, xr.IndexVariable):
            continue
        kept = kept_chunks(name, var)
        sizes = []
        for axis, (dim, length) in enumerate(zip(var.dims, var.shape, strict=True)):
            size = asked.get(dim)
            sizes.append(length if size == -1 else kept[axis] if size is None else int(size))
        result[name] = tuple(max(1, min(s, n)) for s, n in zip(sizes, var.shape, strict=True))
        if var.encoding.get("shards") and result[name] == encoded_chunks(name, var):
            sharded.add(name)
    return result, frozenset(sharded)


def source_chunks(name: Hashable, var: xr.Variable) -> tuple[int, ...]:
    """The chunks a task reads *var* in: its dask chunks, or the stored chunks it was read
    from where they are larger (each dask task decodes a whole stored chunk)."""
    assert var.chunks is not None
    dask_chunks = tuple(max(sizes) for sizes in var.chunks)
    stored = encoded_chunks(name, var) if var.encoding.get("preferred_chunks") else None
    if stored is None:
        return dask_chunks
    return tuple(max(d, s) for d, s in zip(dask_chunks, stored, strict=True))


def _layouts(
    ds: xr.Dataset, units: Mapping[Hashable, tuple[int, ...]], limit: int, workers: int,
    on_client: bool,
) -> tuple[dict[Hashable, ArrayLayout], int]:  # fmt: skip
    """The layout of every dask variable, and how many tasks may run at once.

    A chunk whose buffers do not fit in ``max_mem`` is refused; where they do
    not fit once per worker, fewer tasks run at once, and on a Client (whose
    threads all run) that is refused too.
    """
    sources = {
        name: source_chunks(name, var)
        for name, var in ds.variables.items()
        if name in units and var.chunks is not None
    }
    largest = 0
    for name, source in sources.items():
        for kind, chunk in (("source", source), ("target", units[name])):
            nbytes = ds.variables[name].dtype.itemsize * math.prod(chunk)
            if BUFFERS * nbytes > limit:
                raise ChunkMemoryError(
                    f"variable {name!r}: a {kind} chunk {chunk} holds {format_bytes(nbytes)}, "
                    f"and a task holds about {BUFFERS} times its chunk (read, decoded, encoded, "
                    f"written): more than max_mem={format_bytes(limit)}; raise max_mem or ask "
                    "for smaller chunks"
                )
            largest = max(largest, nbytes)
    running = max(1, min(workers, limit // max(BUFFERS * largest, 1)))
    if on_client and running < workers:
        raise ChunkMemoryError(
            f"the Client's {workers} threads all run at once, and each holds about {BUFFERS} "
            f"times a chunk of up to {format_bytes(largest)}: more than max_mem="
            f"{format_bytes(limit)}; raise max_mem, ask for smaller chunks, or use fewer threads"
        )
    block_bytes = limit // (BUFFERS * running)
    layouts = {}
    for name, source in sources.items():
        var = ds.variables[name]
        layouts[name] = layout_of(var.shape, var.dtype.itemsize, source, units[name], block_bytes)
    return layouts, running
