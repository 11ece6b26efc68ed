"""The Dataset a write hands to xarray: its encodings, and its data in stored-chunk blocks."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import dask.array
import numcodecs.abc
import numpy as np
import xarray as xr
import zarr.abc.codec

from ..chunks import encoded_chunks
from ..codecs import resolve_compressors
from ..integrity.checksums import with_checksum, without_checksum
from ..rounding import quantized
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
        chunked: xr.Variable = var.chunk(dict(zip(var.dims, unit, strict=True)))
        return chunked
    blocks = tuple(
        aligned_blocks(u, offsets.get(dim, 0), n)
        for u, dim, n in zip(unit, var.dims, var.shape, strict=True)
    )
    return xr.Variable(var.dims, memory_blocks(var.values, blocks), var.attrs)


def encode_variables(
    ds: xr.Dataset,
    chunks: Mapping[Hashable, tuple[int, ...]],
    compressors: Callable[[Hashable, xr.Variable], tuple[Any, ...]],
    user_encoding: Mapping[Hashable, Mapping[str, Any]],
    existing: xr.Dataset | None,
    offsets: Mapping[Hashable, int],
    *,
    zarr_format: int = 3,
    carried_codecs: bool = False,
    checksums: bool = True,
    in_blocks: bool = True,
    kept: Mapping[Hashable, int] | None = None,
) -> xr.Dataset:
    """A new Dataset whose variables carry the write's encoding, in stored-chunk blocks.

    Variables the store already has keep its encoding; new ones get *chunks*,
    the codecs, shards and fill value their encoding carries (a store they
    were read from, or set by hand), then the user's encoding. They are
    compressed with the codecs *compressors* gives for each, or, with
    *carried_codecs* (no compressor asked for), with the codecs they carry
    where they carry some; in zarr
    format 3, with a crc32c checksum last if *checksums* (and without one if
    not), unless the user's encoding gives their codecs.
    Data in memory becomes one dask task per stored chunk, so that every chunk
    write is a task of the write (unless not *in_blocks*: data in memory is
    then written at once by xarray, a template's or a small write's, and so are
    a template's dask scalars, which no region write can fill later). Times and
    Python objects in memory stay in memory: xarray encodes them whole.
    The variables of *kept* are rounded to their kept mantissa bits, block by block.
    """
    old = existing.variables if existing is not None else {}
    variables = {}
    for name, var in ds.variables.items():
        if name in old:
            enc = {k: v for k, v in var.encoding.items() if k not in _STORAGE_KEYS}
            unit = stored_unit(old[name])
        else:
            carried = _carried_codecs(var, zarr_format) if carried_codecs else None
            codecs = carried or compressors(name, var)
            enc = _new_encoding(name, var, chunks.get(name), codecs, zarr_format, checksums)
            unit = enc.get("shards") or chunks.get(name)
        enc.update(user_encoding.get(name, {}))
        new = var.copy(deep=False)
        if not in_blocks:
            new = new.load() if new.ndim == 0 else new
        elif new.chunks is None and unit is not None and var.ndim and _blockable(var):
            new = _blocked(var, unit, offsets)
        elif new.chunks is None and var.ndim == 0 and _blockable(var):
            new = xr.Variable((), memory_blocks(np.asarray(var.values), ()), var.attrs)
        if kept and name in kept:
            new = quantized(new, kept[name], enc)
        new.encoding = enc
        variables[name] = new
    coords = set(ds.coords)
    return xr.Dataset(
        {name: v for name, v in variables.items() if name not in coords},
        coords={name: v for name, v in variables.items() if name in coords},
        attrs=dict(ds.attrs),
    )


def _blockable(var: xr.Variable) -> bool:
    """Whether xarray can encode *var* from dask blocks (times and objects it cannot)."""
    return not isinstance(var, xr.IndexVariable) and var.dtype.kind not in "MmO"


#: the kind of filter each zarr format takes
_FILTER_KINDS: dict[int, type] = {2: numcodecs.abc.Codec, 3: zarr.abc.codec.BaseCodec}


def _carried_codecs(var: xr.Variable, zarr_format: int) -> dict[str, Any] | None:
    """The codecs *var* carries in its encoding, fitted to *zarr_format*; None if none."""
    carried = var.encoding
    if "compressors" not in carried:
        return None
    codecs = without_checksum(carried["compressors"] or ())  # the write says whether
    found: dict[str, Any] = {}
    if zarr_format == 3 and carried.get("serializer") is not None:
        found["serializer"] = carried["serializer"]  # format 2 has none
    # a variable-length object codec goes with the dtype, which zarr picks again
    filters = tuple(
        f
        for f in carried.get("filters") or ()
        if not str(getattr(f, "codec_id", "")).startswith("vlen")
    )
    if all(isinstance(f, _FILTER_KINDS[zarr_format]) for f in filters):
        found["filters"] = filters  # those of the other format are dropped
    found["compressors"] = tuple(
        c for codec in codecs for c in resolve_compressors(codec, zarr_format, var.dtype)
    )
    return found


def _new_encoding(
    name: Hashable, var: xr.Variable, chunks: tuple[int, ...] | None,
    codecs: dict[str, Any] | tuple[Any, ...], zarr_format: int, checksums: bool,
) -> dict[str, Any]:  # fmt: skip
    """The encoding of a variable new to the store: what it carries, and the write's."""
    carried = var.encoding
    enc = {k: v for k, v in carried.items() if k not in _STORAGE_KEYS}
    if chunks is not None:
        enc["chunks"] = chunks
        if zarr_format == 3 and carried.get("shards") and chunks == encoded_chunks(name, var):
            # they fit the chunks they came with; format 2 has none
            enc["shards"] = tuple(carried["shards"])
    enc.update(codecs if isinstance(codecs, dict) else {"compressors": codecs})
    if zarr_format == 3:
        picked = without_checksum(enc["compressors"])
        enc["compressors"] = with_checksum(picked) if checksums else picked
    if zarr_format == 3 and "fill_value" in carried:
        enc["fill_value"] = carried["fill_value"]
    return enc
