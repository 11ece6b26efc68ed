"""Rechunk a Dataset into a new store in bounded memory: ``Dataset.zio.rechunk``.

1. :mod:`~xzarrio.rechunking.planning` and :mod:`~xzarrio.rechunking.layout`
   plan, per dask variable, the blocks read and written, each small enough
   that all running tasks fit in ``max_mem``: one pass straight to the
   target, or two through an intermediate array;
2. the last pass is planned as an ordinary write (:func:`xzarrio.writing.plan_write`),
   which checks every argument before anything is made;
3. the first pass of two-pass variables fills intermediate arrays in a
   scratch store (:mod:`~xzarrio.rechunking.scratch`), removed afterwards;
4. the last pass runs as every write does (``execute``): the same
   transaction, encodings, codecs and provenance, with the data read in the
   write blocks.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import dask.array
import numpy as np
import xarray as xr
import zarr
from zarr.abc.store import Store

from ..codecs import quiet_spec_notes
from ..errors import ChunkMemoryError, InvalidArgumentError
from ..running import (
    Gate,
    check_reaches,
    is_distributed_client,
    resolve_scheduler,
    run_tasks,
    stays_local,
)
from ..stores import Location, locate
from ..writing import (
    GuardedStore,
    WritePlan,
    WriteReport,
    WriteRequest,
    as_dataset,
    execute,
    plan_write,
)
from .layout import ArrayLayout
from .planning import BUFFERS, RechunkPlan, plan_rechunk
from .scratch import Scratch, ScratchArray, choose_scratch

__all__ = ["BUFFERS", "ChunkMemoryError", "RechunkPlan", "plan_rechunk", "rechunk"]

#: the dtypes an intermediate array stores as they are (times go as int64)
_STORABLE_KINDS = "biufcMmSU"


@dataclass(frozen=True)
class _FirstPass:
    """One variable's first pass: its source in read blocks, into intermediate array *name*."""

    source: dask.array.Array
    name: str
    layout: ArrayLayout


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
    keepbits: Any = None,
    information: float = 0.99,
) -> WriteReport:
    """Write *obj* with new stored *chunks*; see :meth:`xzarrio.ZioAccessor.rechunk`."""
    ds = as_dataset(obj)
    _check_arguments(mode)
    arguments = {
        "chunks": dict(chunks) if isinstance(chunks, Mapping) and chunks else None,
        "max_mem": max_mem, "compressor": compressor,
    }  # fmt: skip
    request = WriteRequest.of(
        mode=mode, compressor=compressor, zarr_format=zarr_format, checksums=checksums,
        history=history, operation="zio.rechunk", arguments=arguments, group=group,
        storage_options=storage_options, progress=progress, keepbits=keepbits,
        information=information,
    )  # fmt: skip
    target = locate(store, storage_options)
    chosen = resolve_scheduler(scheduler, local_only=_local_only(ds, target, temp_store))
    layout = plan_rechunk(ds, chunks, max_mem=max_mem, num_workers=num_workers, scheduler=chosen)
    scratch = choose_scratch(target, temp_store, storage_options) if layout.passes == 2 else None
    staged, first_pass = _staged(ds, layout, scratch)
    # a DataArray's store is remembered on it, not on the Dataset made of it
    if "source" in obj.encoding:
        staged.encoding.setdefault("source", obj.encoding["source"])
    request = request.but(scheduler=chosen, num_workers=layout.running)
    with quiet_spec_notes():
        write = plan_write(staged, store, request)
        if scratch is not None:
            check_reaches(write.scheduler, scratch.location, in_place=True)
        with scratch.made() if scratch is not None else nullcontext():
            if scratch is not None:
                _run_first_pass(scratch, first_pass, write)
            return execute(write)


def _local_only(ds: xr.Dataset, target: Location, temp_store: Any) -> bool:
    """Whether ``scheduler=None`` keeps to this process, by the write's own rule, for
    the target and for a store given as ``temp_store``."""
    scratch = [locate(temp_store)] if isinstance(temp_store, Store) else []
    return stays_local(ds, target, *scratch)


def _check_arguments(mode: Any) -> None:
    if mode not in ("w-", "w"):
        raise InvalidArgumentError(
            f"mode={mode!r}: a rechunk makes a new store; expected 'w-' (refuse an existing "
            "one) or 'w' (replace it)"
        )


def _staged(
    ds: xr.Dataset, layout: RechunkPlan, scratch: Scratch | None
) -> tuple[xr.Dataset, list[_FirstPass]]:
    """*ds* with its data in the write blocks and its new stored chunks, and the first
    passes that fill the intermediate arrays it reads."""
    first_pass: list[_FirstPass] = []
    variables = {}
    for name, var in ds.variables.items():
        new = var.copy(deep=False)
        if name in layout.arrays:
            data, feed = _last_pass_data(var, layout.arrays[name], scratch, len(first_pass))
            new = xr.Variable(var.dims, data, var.attrs)
            first_pass.extend([feed] if feed is not None else [])
        if name in layout.targets:
            dropped = {"chunks", "preferred_chunks"}
            dropped |= set() if name in layout.sharded else {"shards"}
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
    var: xr.Variable, layout: ArrayLayout, scratch: Scratch | None, number: int
) -> tuple[dask.array.Array, _FirstPass | None]:
    """The data the write reads, in its blocks; with the first pass that feeds it, if any.

    Python objects have no intermediate array: dask's own rechunk moves them,
    in memory.
    """
    data = var.data
    if layout.intermediate is None or scratch is None or var.dtype.kind not in _STORABLE_KINDS:
        return data.rechunk(layout.write), None
    times = var.dtype.kind in "Mm"
    stored = data.view("i8") if times else data
    name = f"v{number}"
    reader = ScratchArray(scratch.store, scratch.array_path(name), layout.shape, stored.dtype)
    back = dask.array.from_array(
        reader, chunks=layout.write, name=f"xzarrio-rechunk-{uuid.uuid4().hex}", lock=False,
        asarray=True, meta=np.empty((0,) * len(layout.shape), dtype=stored.dtype),
    )  # fmt: skip
    return (back.view(var.dtype) if times else back), _FirstPass(
        stored.rechunk(layout.read), name, layout
    )


def _run_first_pass(scratch: Scratch, passes: list[_FirstPass], write: WritePlan) -> None:
    """Make the intermediate arrays and fill them, every source block read once; after a
    failure, no chunk write of the pass runs on (the scratch is removed next)."""
    gate = Gate(write.scheduler if is_distributed_client(write.scheduler) else None)
    guarded = GuardedStore(scratch.store, gate, None)
    arrays: list[Any] = []
    for feed in passes:
        assert feed.layout.intermediate is not None
        zarr.create_array(
            scratch.store, name=scratch.array_path(feed.name), shape=feed.layout.shape,
            chunks=feed.layout.intermediate, dtype=feed.source.dtype, fill_value=0,
            zarr_format=scratch.zarr_format, **scratch.codecs(),
        )  # fmt: skip
        arrays.append(zarr.open_array(guarded, path=scratch.array_path(feed.name), mode="r+"))
    stored = dask.array.store([feed.source for feed in passes], arrays, lock=False, compute=False)
    run_tasks(stored, write.scheduler, write.num_workers, write.progress, gate)
