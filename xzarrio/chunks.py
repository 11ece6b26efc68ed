"""Stored chunk shapes: check a ``chunks`` request and resolve it per variable."""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping
from typing import Any

import xarray as xr

from .errors import ChunkSizeTypeError, InvalidChunksError

__all__ = [
    "INDEX_CHUNK_BYTES", "check_chunks", "encoded_chunks", "is_int", "is_size", "kept_chunks",
    "stored_chunks",
]  # fmt: skip


def is_int(value: Any) -> bool:
    """Whether *value* is an integer (a bool is not one here)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_size(value: Any) -> bool:
    """Whether *value* is a size: an integer >= 1."""
    return is_int(value) and int(value) >= 1


#: the least bytes of a dimension coordinate's stored chunk (see ``_index_chunks``)
INDEX_CHUNK_BYTES = 2**20


def check_chunks(ds: xr.Dataset, chunks: Any) -> None:
    """Refuse a ``chunks`` request that names a missing dim or a size below 1."""
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        return
    if not isinstance(chunks, Mapping):
        raise InvalidChunksError(
            f"chunks={chunks!r} is not understood; expected None (keep the object's chunks), "
            "'auto', or a dict {dim: size}"
        )
    for dim, size in chunks.items():
        if dim not in ds.dims:
            raise InvalidChunksError(
                f"chunks names dimension {dim!r}, which the object does not have; "
                f"expected one of {list(ds.dims)}"
            )
        if not (is_size(size) or size is None or (is_int(size) and size == -1)):
            raise InvalidChunksError(
                f"chunk size for dimension {dim!r} must be an integer >= 1, -1 (the whole "
                f"dimension) or None (its current chunks), got {size!r}"
            )


def _clip(size: int, length: int) -> int:
    # zarr wants at least 1 along every dim, even a size-0 one
    return max(1, min(int(size), length))


def _zarr_default(var: xr.Variable) -> tuple[int, ...]:
    """The chunks zarr would choose for an in-memory array."""
    from .seams import guess_chunks

    return guess_chunks(var.shape, max(var.dtype.itemsize, 1))


def _auto(var: xr.Variable, target_bytes: int) -> tuple[int, ...]:
    """Chunks near *target_bytes*: trailing dims whole, leading dims cut.

    Climate fields are mostly read a map (the trailing dims) at a time, so a
    chunk holds whole maps where it can and splits the leading dim otherwise.
    """
    itemsize = max(var.dtype.itemsize, 1)
    sizes = [1] * var.ndim
    block = itemsize
    for axis in reversed(range(var.ndim)):
        length = max(1, var.shape[axis])
        if block * length <= target_bytes:
            sizes[axis] = length
            block *= length
        else:
            sizes[axis] = max(1, target_bytes // block)
            break
    return tuple(sizes)


def stored_chunks(
    ds: xr.Dataset, chunks: Any, target_bytes: int
) -> dict[Hashable, tuple[int, ...]]:
    """The stored chunk shape of every variable of *ds* with at least one dim.

    ``None`` keeps dask chunks (the first chunk per dim), else chunks the
    object already carries in its encoding, else zarr's own choice; ``"auto"``
    aims at *target_bytes* per chunk; a dict sets the named dims (-1: the
    whole dimension), and the other dims (or those it maps to None) keep their
    dask chunk or are stored whole. Dimension
    coordinates are stored in chunks of at least ``INDEX_CHUNK_BYTES``,
    whatever *chunks* says (the user's ``encoding=`` still wins).
    """
    result: dict[Hashable, tuple[int, ...]] = {}
    indexes = {name for name, var in ds.variables.items() if _is_index(name, var)}
    for name, var in ds.variables.items():
        if var.ndim == 0:
            continue
        if name in indexes:
            result[name] = _index_chunks(var)
            continue
        if isinstance(chunks, Mapping):
            sizes = []
            for axis, dim in enumerate(var.dims):
                if chunks.get(dim) == -1:
                    sizes.append(var.shape[axis])
                elif chunks.get(dim) is not None:
                    sizes.append(chunks[dim])
                elif var.chunks is not None:
                    sizes.append(var.chunks[axis][0])
                else:
                    sizes.append(var.shape[axis])
        elif chunks == "auto":
            sizes = list(_auto(var, target_bytes))
        else:
            sizes = list(kept_chunks(name, var))
        result[name] = tuple(_clip(s, n) for s, n in zip(sizes, var.shape, strict=True))
    if isinstance(chunks, str) and chunks == "auto":
        # variables sharing a dim share its chunks (the smallest wins), so that the
        # reopened Dataset has one chunking per dim
        per_dim: dict[Hashable, int] = {}
        data = [name for name in result if name not in indexes]
        for name in data:
            for dim, size in zip(ds.variables[name].dims, result[name], strict=True):
                per_dim[dim] = min(size, per_dim.get(dim, size))
        result.update({name: tuple(per_dim[d] for d in ds.variables[name].dims) for name in data})
    return result


def kept_chunks(name: Hashable, var: xr.Variable) -> tuple[int, ...]:
    """The stored chunks *var* keeps where none are asked for: its dask chunks if it was
    rechunked since it was read, else those its encoding carries, else its dask chunks,
    else zarr's choice (the first chunk per dim; not clipped to the shape)."""
    dask_chunks = tuple(c[0] if c else 1 for c in var.chunks) if var.chunks is not None else None
    if dask_chunks is not None and _rechunked_since_read(var):
        return dask_chunks
    encoded = encoded_chunks(name, var)
    if encoded is not None:
        return encoded
    return dask_chunks if dask_chunks is not None else _zarr_default(var)


def _index_chunks(var: xr.Variable) -> tuple[int]:
    """One chunk of at least ``INDEX_CHUNK_BYTES`` for a dimension coordinate.

    xarray reads dimension coordinates whole on every open, to build its
    indexes: in the data's chunks, a store with 100 times the time steps would
    take 100 times the reads to reopen. The chunk may be longer than the
    coordinate, so that appends fill it instead of adding chunks (zarr stores
    the unfilled part as fill values, which compress to nothing).
    """
    itemsize = max(var.dtype.itemsize, 1)
    return (max(_zarr_default(var)[0], INDEX_CHUNK_BYTES // itemsize, 1),)


def _is_index(name: Hashable, var: xr.Variable) -> bool:
    """Whether *var* is a dimension coordinate (1-D, named after its dim)."""
    return var.ndim == 1 and var.dims[0] == name


def encoded_chunks(name: Hashable, var: xr.Variable) -> tuple[int, ...] | None:
    """The stored chunks *var* carries in its encoding (from a read, or set by hand).

    An int means that size on every dimension. Chunks of another number of
    dimensions, or of another order (the variable was reshaped or transposed
    since it was read), are dropped, as xarray drops the former; sizes that are
    no integers raise.
    """
    chunks = var.encoding.get("chunks")
    if chunks is None:
        return None
    if is_int(chunks):
        chunks = (chunks,) * var.ndim
    if not isinstance(chunks, tuple | list) or not all(is_int(c) for c in chunks):
        raise ChunkSizeTypeError(
            f"encoding['chunks'] of variable {name!r} must be an int or a tuple of ints, "
            f"got {chunks!r}"
        )
    if len(chunks) != var.ndim or not all(is_size(c) for c in chunks):
        return None
    read_as = var.encoding.get("preferred_chunks")
    if read_as and list(read_as) != list(var.dims):
        return None  # read in another order of dims (transposed since): no longer its own
    return tuple(int(c) for c in chunks)


def _rechunked_since_read(var: xr.Variable) -> bool:
    """Whether *var*'s dask chunks differ from those it was read with.

    A variable read from a store remembers its stored chunks (``preferred_chunks``);
    one whose encoding was set by hand has none, and its encoding wins.
    """
    preferred = var.encoding.get("preferred_chunks")
    if not preferred or var.chunks is None:
        return False
    return any(
        dim in preferred and sizes and sizes[0] != preferred[dim]
        for dim, sizes in zip(var.dims, var.chunks, strict=True)
    )
