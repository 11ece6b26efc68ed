"""Region writes that cover stored chunks in part: each such chunk locked, undone by part.

A stored chunk (or shard) that a region write covers only in part is read,
patched and written whole, so it is shared with whoever writes its other
part. Where the store can lock a chunk (a local path, a store in memory:
:mod:`xzarrio.chunklocks`), the write holds the lock of every chunk it
shares from before it keeps their old values until its chunk writes have
ended; its journal keeps its own part of each, so that a rollback undoes only
that part. On a local disk it keeps the whole old chunk too (a hard link): a
rollback that finds the chunk as this write left it, nobody having written it
since, puts the old one back by a rename, which needs no free space.
Elsewhere such writes are refused unless the caller allows them.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import xarray as xr
import zarr

from ..chunklocks import hold_chunks
from ..errors import RegionError
from ..journal import Journal
from ..stores import Location
from .checks import stored_unit

__all__ = ["SharedChunk", "hold_shared_chunks", "refuse_shared", "shared_chunks"]


@dataclass(frozen=True)
class SharedChunk:
    """A stored chunk that a region write covers only in part."""

    #: the variable
    name: Hashable
    #: the chunk's place in the array's grid of stored chunks (or shards)
    index: tuple[int, ...]
    #: what the write covers of it, in the array's coordinates
    selection: tuple[slice, ...]
    #: the first dimension along which the write covers it in part
    dim: Hashable


Span = tuple[int, int]


def _covered(
    region: Mapping[Hashable, slice], dims: tuple[Hashable, ...], shape: tuple[int, ...]
) -> list[Span]:
    """(start, stop) of the region on each axis of an array of *dims* and *shape*."""
    return [
        region[dim].indices(size)[:2] if dim in region else (0, size)
        for dim, size in zip(dims, shape, strict=True)
    ]


def _chunks_in_part(
    spans: list[Span], unit: tuple[int, ...], shape: tuple[int, ...]
) -> Iterator[tuple[tuple[int, ...], tuple[slice, ...], int]]:
    """Each chunk of *unit* that *spans* cover in part: its index, the part, the first
    axis along which the part falls short of it."""
    axes = list(zip(spans, unit, shape, strict=True))
    touched = [range(a // u, -(-b // u)) for (a, b), u, _ in axes]
    for index in itertools.product(*touched):
        parts = []
        for i, ((a, b), u, n) in zip(index, axes, strict=True):
            low, high = i * u, min((i + 1) * u, n)
            parts.append((max(low, a), min(high, b), low < a or b < high))
        short = [axis for axis, part in enumerate(parts) if part[2]]
        if short:
            yield tuple(index), tuple(slice(lo, hi) for lo, hi, _ in parts), short[0]


def shared_chunks(ds: xr.Dataset, old: xr.Dataset, region: Any) -> tuple[SharedChunk, ...]:
    """Every stored chunk of *old* that writing *ds* at *region* covers only in part."""
    if not isinstance(region, Mapping):
        return ()
    found = []
    for name, var in ds.variables.items():
        have = old.variables.get(name)
        unit = stored_unit(have) if have is not None and var.ndim else None
        if have is None or unit is None:
            continue
        spans = _covered(region, have.dims, have.shape)
        found += [
            SharedChunk(name=name, index=index, selection=part, dim=have.dims[axis])
            for index, part, axis in _chunks_in_part(spans, unit, have.shape)
        ]
    return tuple(found)


def refuse_shared(
    shared: tuple[SharedChunk, ...], old: xr.Dataset, region: Mapping[Hashable, slice], why: str
) -> None:
    """Raise the error of a region write that covers the first of *shared* in part."""
    first = shared[0]
    have = old.variables[first.name]
    unit = stored_unit(have)
    assert unit is not None
    size = unit[have.dims.index(first.dim)]
    raise RegionError(
        f"region[{first.dim!r}] = {region[first.dim]!r} covers stored chunks of {first.name!r} "
        f"only in part (chunks of {size} along {first.dim!r}): {why}"
    )


@contextmanager
def hold_shared_chunks(
    shared: tuple[SharedChunk, ...], location: Location, group: str | None,
    journal: Journal | None,
) -> Iterator[None]:  # fmt: skip
    """Lock the *shared* chunks, keep this write's part of each in *journal*; run the block.

    The locks are let go when the block ends; after a failure the writer first
    closes its gate and waits until no store call of the write is in flight
    (:meth:`xzarrio.writing.execution.Write.abort`).
    """
    if not shared:
        yield
        return
    assert journal is not None, "a region write in place runs under a journal"
    root = zarr.open_group(location.zarr_store(), mode="r", path=group or "")
    arrays = {name: cast(zarr.Array[Any], root[str(name)]) for name in {c.name: 0 for c in shared}}
    keys = [_key(arrays[c.name], c.index) for c in shared]
    with hold_chunks(location.lock_place, keys):
        for name, array in arrays.items():
            mine = [(c, k) for c, k in zip(shared, keys, strict=True) if c.name == name]
            _keep_parts(journal, array, mine)
        journal.shared_keys = frozenset(keys)
        for key in keys:
            journal.keep_shared(key)
        try:
            yield
        finally:
            # the chunk writes have ended: a rollback that finds a chunk as they left it
            # (nobody wrote it since) puts it back whole, by a rename, on a full disk too
            journal.note_shared_written()


def _keep_parts(
    journal: Journal, array: zarr.Array[Any], parts: list[tuple[SharedChunk, str]]
) -> None:
    """Keep the old values of this write's part of each shared chunk of *array*.

    They are read in one request, the box around all the parts, not one per chunk.
    """
    selections = [chunk.selection for chunk, _ in parts]
    box = tuple(
        slice(min(s[axis].start for s in selections), max(s[axis].stop for s in selections))
        for axis in range(array.ndim)
    )
    old = np.asarray(array[box])
    for chunk, key in parts:
        within = tuple(
            slice(s.start - b.start, s.stop - b.start)
            for s, b in zip(chunk.selection, box, strict=True)
        )
        journal.keep_region(key, array.path, chunk.selection, old[within])


def _key(array: Any, index: tuple[int, ...]) -> str:
    return f"{array.path}/{array.metadata.encode_chunk_key(index)}"
