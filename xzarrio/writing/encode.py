"""The Dataset a write hands to xarray: its encodings, and its data in stored-chunk blocks."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Hashable, Mapping
from typing import Any

import dask.array
import numpy as np
import xarray as xr

from .checks import stored_unit

__all__ = ["aligned_blocks", "encode_variables", "memory_blocks"]

# encoding keys that describe how the source was stored, not what the data is
_STORAGE_KEYS = {
    "chunks", "preferred_chunks", "compressors", "compressor", "filters", "shards", "serializer",
    "fill_value", "source", "original_shape", "group", "storage_options", "zarr_format",
}  # fmt: skip


def aligned_blocks(unit: int, offset: int, length: int) -> tuple[int, ...]:
    """Block lengths along one axis, one per stored chunk of *unit* that *length* touches.

    The data lands at *offset* in the array (an append, a region), so the first
    block only fills up the stored chunk it starts in.
    """
    first = min(length, unit - offset % unit)
    rest = length - first
    tail = [rest % unit] if rest % unit else []
    sizes = ([first] if first else []) + [unit] * (rest // unit) + tail
    return tuple(sizes) or (0,)


def memory_blocks(values: np.ndarray, blocks: tuple[tuple[int, ...], ...]) -> dask.array.Array:
    """*values* as a dask array of views, with the given *blocks*.

    ``dask.array.from_array`` would copy the whole array (and hash it for a
    name): for a write, whose tasks only read, views are enough. The write of
    229 MiB from memory then needs 229 MiB less.
    """
    name = f"xzarrio-memory-{uuid.uuid4().hex}"
    graph = {
        (name, *index): values[region] if region else values[...]
        for index, region in zip(
            itertools.product(*(range(len(c)) for c in blocks)),
            dask.array.core.slices_from_chunks(blocks),
            strict=True,
        )
    }
    return dask.array.Array(
        graph, name, blocks, dtype=values.dtype, meta=values[(slice(0, 0),) * values.ndim]
    )


def _blocked(
    var: xr.Variable, unit: tuple[int, ...], offsets: Mapping[Hashable, int]
) -> xr.Variable:
    """An in-memory *var* as dask blocks aligned to stored chunks of *unit*."""
    if isinstance(var, xr.IndexVariable):
        # an index cannot hold dask data: xarray writes it whole, through the gate too
        return var.chunk(dict(zip(var.dims, unit, strict=True)))
    blocks = tuple(
        aligned_blocks(u, offsets.get(dim, 0), n)
        for u, dim, n in zip(unit, var.dims, var.shape, strict=True)
    )
    return xr.Variable(var.dims, memory_blocks(var.values, blocks), var.attrs)


def encode_variables(
    ds: xr.Dataset,
    chunks: Mapping[Hashable, tuple[int, ...]],
    compressors: tuple[Any, ...],
    user_encoding: Mapping[Hashable, Mapping[str, Any]],
    existing: xr.Dataset | None,
    offsets: Mapping[Hashable, int],
    *,
    in_blocks: bool = True,
) -> xr.Dataset:
    """A new Dataset whose variables carry the write's encoding, in stored-chunk blocks.

    Variables the store already has keep its encoding; new ones get *chunks*
    and *compressors*, then the user's encoding. Data in memory becomes one
    dask task per stored chunk, so that every chunk write is a task of the write
    (unless not *in_blocks*: a template's data in memory is written at once,
    and so are its dask scalars, which no region write can fill later).
    """
    old = existing.variables if existing is not None else {}
    variables = {}
    for name, var in ds.variables.items():
        enc = {k: v for k, v in var.encoding.items() if k not in _STORAGE_KEYS}
        unit = stored_unit(old[name]) if name in old else chunks.get(name)
        if name not in old:
            if name in chunks:
                enc["chunks"] = chunks[name]
            enc["compressors"] = compressors
        enc.update(user_encoding.get(name, {}))
        new = var.copy(deep=False)
        if not in_blocks:
            new = new.load() if new.ndim == 0 else new
        elif new.chunks is None and unit is not None and var.ndim:
            new = _blocked(var, unit, offsets)
        elif new.chunks is None and var.ndim == 0 and not isinstance(var, xr.IndexVariable):
            new = xr.Variable((), memory_blocks(np.asarray(var.values), ()), var.attrs)
        new.encoding = enc
        variables[name] = new
    coords = set(ds.coords)
    return xr.Dataset(
        {name: v for name, v in variables.items() if name not in coords},
        coords={name: v for name, v in variables.items() if name in coords},
        attrs=dict(ds.attrs),
    )
