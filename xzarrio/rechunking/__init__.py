"""Rechunk a Dataset into a new store in bounded memory: ``Dataset.zio.rechunk``.

1. :mod:`~xzarrio.rechunking.layout` plans, per dask variable, the blocks
   read and written, each small enough that all running tasks fit in
   ``max_mem``: one pass straight to the target, or two through an
   intermediate array;
2. the first pass of two-pass variables fills intermediate arrays in a
   scratch store (:mod:`~xzarrio.rechunking.scratch`), removed afterwards;
3. the last pass is an ordinary write (:func:`xzarrio.writing.plan` and
   ``execute``): the same transaction, encodings, codecs and provenance as
   every write, with the data read in the write blocks.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import dask
import dask.array
import xarray as xr
from dask.utils import format_bytes, parse_bytes

from ..chunks import check_chunks, encoded_chunks, is_int
from ..codecs import quiet_spec_notes
from ..errors import ArgumentTypeError, ChunkMemoryError, InvalidArgumentError, InvalidChunksError
from ..options import resolve_num_workers
from ..provenance import format_call
from ..schedulers import is_distributed_client
from ..stores import locate
from ..writing import WriteReport, execute, plan
from ..writing.checks import as_dataset, check_optional_flag
from ..writing.execution import progress_bar
from .layout import ArrayLayout, layout_of
from .scratch import scratch_group

__all__ = ["BUFFERS", "RechunkPlan", "plan_rechunk", "rechunk"]

#: block-sized buffers one task holds at its peak: the block, its decoded or
#: encoded copy, and the chunks in flight through the codecs
BUFFERS = 4

#: the dtypes an intermediate array stores as they are (times go as int64)
_STORABLE_KINDS = "biufcMmSU"


def rechunk(
    obj: xr.Dataset | xr.DataArray,
    store: Any,
    chunks: Mapping[Hashable, int | None] | None = None,
    *,
    max_mem: int | str = "1GiB",
    temp_store: Any = None,
    mode: str = "w-",
    compressor: Any = None,
    zarr_format: int | None = None,
    checksums: bool | None = None,
    history: str | None = None,
    group: str | None = None,
    storage_options: dict[str, Any] | None = None,
    scheduler: Any = None,
    num_workers: int | None = None,
    progress: bool | None = None,
) -> WriteReport:
    """Write *obj* with new stored *chunks*; see :meth:`xzarrio.ZioAccessor.rechunk`."""
    ds = as_dataset(obj)
    _check_arguments(mode, checksums)
    layout = plan_rechunk(ds, chunks, max_mem=max_mem, num_workers=num_workers)
    target = locate(store, storage_options)
    scratch = (
        scratch_group(target, temp_store, storage_options) if layout.passes == 2 else nullcontext()
    )
    with quiet_spec_notes(), scratch as group_of_scratch:
        staged, first_pass = _staged(ds, layout, group_of_scratch)
        write = plan(
            staged, store, mode=mode, compressor=compressor, zarr_format=zarr_format,
            history=history, group=group, storage_options=storage_options,
            scheduler=scheduler, num_workers=layout.running, progress=progress,
        )  # fmt: skip
        call = _call(obj, write.target.location, chunks, max_mem, compressor, group, write)
        write = replace(write, call=call)
        _run_first_pass(first_pass, write.scheduler, layout.running, write.progress)
        return execute(write)


@dataclass(frozen=True, kw_only=True)
class RechunkPlan:
    """How a rechunk moves every variable, decided before anything is written."""

    #: the stored chunks of every variable with dims (dimension coordinates aside)
    targets: Mapping[Hashable, tuple[int, ...]]
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
) -> RechunkPlan:
    """How :meth:`Dataset.zio.rechunk <xarray.Dataset.zio.rechunk>` would move *obj* to
    *chunks* within *max_mem*; writes nothing.

    >>> import dask.array, xarray as xr
    >>> data = dask.array.zeros((1000, 200, 300), chunks=(10, 200, 300), dtype="f4")
    >>> ds = xr.Dataset({"t": (("time", "y", "x"), data)})
    >>> p = plan_rechunk(ds, {"time": -1, "y": 20, "x": 30}, max_mem="256MiB", num_workers=2)
    >>> p.passes, p.arrays["t"].read, p.arrays["t"].intermediate, p.arrays["t"].write
    (2, (100, 200, 300), (100, 20, 300), (1000, 20, 300))
    """
    ds = as_dataset(obj)
    _check_chunks(ds, chunks)
    targets = _target_chunks(ds, chunks)
    arrays, running = _layouts(
        ds, targets, _max_mem_bytes(max_mem), resolve_num_workers(num_workers)
    )
    return RechunkPlan(targets=targets, arrays=arrays, running=running)


def _check_chunks(ds: xr.Dataset, chunks: Any) -> None:
    if chunks is not None and not isinstance(chunks, Mapping):
        raise InvalidChunksError(
            f"chunks={chunks!r} is not understood; expected a dict {{dim: size}} (-1: the "
            "whole dimension, None: its current chunks)"
        )
    check_chunks(ds, chunks)


def _check_arguments(mode: Any, checksums: Any) -> None:
    if mode not in ("w-", "w"):
        raise InvalidArgumentError(
            f"mode={mode!r}: a rechunk makes a new store; expected 'w-' (refuse an existing "
            "one) or 'w' (replace it)"
        )
    if check_optional_flag("checksums", checksums):
        raise InvalidArgumentError(
            "checksums=True: this version of xzarrio writes no chunk checksums; leave checksums out"
        )


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


def _target_chunks(ds: xr.Dataset, chunks: Any) -> dict[Hashable, tuple[int, ...]]:
    """The stored chunks of every variable that has dims, dimension coordinates aside
    (the write gives them theirs): the dims *chunks* names, the stored ones elsewhere."""
    asked = dict(chunks or {})
    result = {}
    for name, var in ds.variables.items():
        if var.ndim == 0 or isinstance(var, xr.IndexVariable):
            continue
        stored = encoded_chunks(name, var) or (
            tuple(c[0] if c else 1 for c in var.chunks) if var.chunks is not None else var.shape
        )
        sizes = []
        for axis, (dim, length) in enumerate(zip(var.dims, var.shape, strict=True)):
            size = asked.get(dim)
            sizes.append(length if size == -1 else stored[axis] if size is None else int(size))
        result[name] = tuple(max(1, min(s, n)) for s, n in zip(sizes, var.shape, strict=True))
    return result


def _layouts(
    ds: xr.Dataset, targets: Mapping[Hashable, tuple[int, ...]], limit: int, workers: int
) -> tuple[dict[Hashable, ArrayLayout], int]:
    """The layout of every dask variable, and how many tasks may run at once.

    A chunk over ``max_mem`` ÷ workers is refused. Where the buffers of the
    largest chunk would not fit that many times over, fewer tasks run at once.
    """
    sources = {
        name: tuple(max(sizes) for sizes in var.chunks)
        for name, var in ds.variables.items()
        if name in targets and var.chunks is not None
    }
    largest = 0
    for name, source in sources.items():
        for kind, chunk in (("source", source), ("target", targets[name])):
            nbytes = ds.variables[name].dtype.itemsize * math.prod(chunk)
            if nbytes > limit // workers:
                raise ChunkMemoryError(
                    f"variable {name!r}: a {kind} chunk {chunk} holds {format_bytes(nbytes)}, "
                    f"more than max_mem ÷ workers = {format_bytes(limit // workers)} "
                    f"({workers} worker{'s' if workers > 1 else ''}); raise max_mem, lower "
                    "num_workers or ask for smaller chunks"
                )
            largest = max(largest, nbytes)
    running = max(1, min(workers, limit // max(BUFFERS * largest, 1)))
    block_bytes = max(limit // (BUFFERS * running), largest)
    layouts = {}
    for name, source in sources.items():
        var = ds.variables[name]
        layouts[name] = layout_of(var.shape, var.dtype.itemsize, source, targets[name], block_bytes)
    return layouts, running


def _staged(
    ds: xr.Dataset, layout: RechunkPlan, scratch: Any
) -> tuple[xr.Dataset, list[tuple[dask.array.Array, Any]]]:
    """*ds* with its data in the write blocks and its new stored chunks, and the first
    pass: (source blocks, intermediate array) pairs."""
    first_pass = []
    variables = {}
    for name, var in ds.variables.items():
        new = var.copy(deep=False)
        if name in layout.arrays:
            data, feed = _last_pass_data(name, var, layout.arrays[name], scratch)
            new = xr.Variable(var.dims, data, var.attrs)
            if feed is not None:
                first_pass.append(feed)
        if name in layout.targets:
            dropped = ("chunks", "preferred_chunks", "shards")
            new.encoding = {k: v for k, v in var.encoding.items() if k not in dropped}
            new.encoding["chunks"] = layout.targets[name]
        variables[name] = new
    coords = set(ds.coords)
    staged = xr.Dataset(
        {n: v for n, v in variables.items() if n not in coords},
        coords={n: v for n, v in variables.items() if n in coords},
        attrs=dict(ds.attrs),
    )
    staged.encoding = dict(ds.encoding)
    return staged, first_pass


def _last_pass_data(
    name: Hashable, var: xr.Variable, layout: ArrayLayout, scratch: Any
) -> tuple[dask.array.Array, tuple[dask.array.Array, Any] | None]:
    """The data the write reads, in its blocks; with the first pass that feeds it, if any.

    Python objects have no intermediate array: dask's own rechunk moves them,
    in memory.
    """
    data = var.data
    if layout.intermediate is None or var.dtype.kind not in _STORABLE_KINDS:
        return data.rechunk(layout.write), None
    times = var.dtype.kind in "Mm"
    stored = data.view("i8") if times else data
    array = scratch.create_array(
        name=f"v{len(list(scratch.array_keys()))}", shape=layout.shape,
        chunks=layout.intermediate, dtype=stored.dtype, fill_value=0,
        compressors=[_SCRATCH_CODEC], attributes={"variable": str(name)},
    )  # fmt: skip
    back = dask.array.from_zarr(array, chunks=layout.write)
    return (back.view(var.dtype) if times else back), (stored.rechunk(layout.read), array)


def _scratch_codec() -> Any:
    from zarr.codecs import BloscCodec

    # fast over small: the data is read once, soon after
    return BloscCodec(cname="lz4", clevel=1, shuffle="shuffle")


_SCRATCH_CODEC = _scratch_codec()


def _run_first_pass(
    first_pass: list[tuple[dask.array.Array, Any]], scheduler: Any, workers: int, progress: bool
) -> None:
    """Fill the intermediate arrays, every source block read once."""
    if not first_pass:
        return
    stored = dask.array.store(
        [source for source, _ in first_pass], [array for _, array in first_pass],
        lock=False, compute=False,
    )  # fmt: skip
    if is_distributed_client(scheduler):
        scheduler.compute(stored).result()
        return
    with progress_bar(progress):
        dask.compute(stored, scheduler=scheduler, num_workers=workers)


def _call(
    obj: Any, target: Any, chunks: Any, max_mem: Any, compressor: Any, group: Any, write: Any
) -> str:
    """The rechunk and its arguments, as the history line records them."""
    source = obj.encoding.get("source")
    return format_call(
        "zio.rechunk",
        {
            "store": target.name if target.kind in ("local", "fsspec") else None,
            "source": source if isinstance(source, str) else None,
            "chunks": dict(chunks) if chunks else None,
            "max_mem": max_mem,
            "compressor": compressor,
            "group": group,
            "zarr_format": write.target.zarr_format,
        },
    )
