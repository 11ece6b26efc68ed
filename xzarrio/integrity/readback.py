"""Stored chunks read back: the grid of an array's stored chunks, one decoded, digests."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import replace
from math import ceil
from typing import Any

import numpy as np
import zarr
from zarr.buffer import default_buffer_prototype

from ..seams import sync
from ..stores import key_prefix
from .digests import chunk_digest

__all__ = [
    "Chunk", "chunk_prefix", "decode_chunk", "digests_of", "stored_chunks", "stored_grid",
]  # fmt: skip

#: a stored chunk: its key relative to the array, its place in the array's grid
Chunk = tuple[str, tuple[int, ...]]


def stored_chunks(array: zarr.Array[Any]) -> tuple[int, ...]:
    """The shape of the stored objects: shards where there are, else chunks."""
    return tuple(array.shards or array.chunks) if array.metadata.zarr_format == 3 else array.chunks


def stored_grid(array: zarr.Array[Any]) -> dict[str, tuple[int, ...]]:
    """The key of every stored chunk the array's grid holds, with its place, in order."""
    counts = [
        ceil(n / c) if c else 0 for n, c in zip(array.shape, stored_chunks(array), strict=True)
    ]
    return {
        array.metadata.encode_chunk_key(coords): coords
        for coords in itertools.product(*(range(n) for n in counts))
    }


async def decode_chunk(array: zarr.Array[Any], coords: tuple[int, ...], data: Any) -> np.ndarray:
    """The values of the stored chunk at *coords* of *array*, decoded by its codecs."""
    inner = array.async_array
    metadata = inner.metadata
    config = inner.config
    if metadata.zarr_format == 2:
        config = replace(config, order=metadata.order)
    spec = metadata.get_chunk_spec(coords, config, prototype=default_buffer_prototype())
    (decoded,) = await inner.codec_pipeline.decode([(data, spec)])
    if decoded is None:
        raise ValueError("the codecs gave no data")
    return decoded.as_numpy_array()


def chunk_prefix(array: zarr.Array[Any]) -> str:
    """What the store keys of *array*'s chunks begin with: its path and a ``/``."""
    return key_prefix(array.path)


def digests_of(
    array: zarr.Array[Any], places: Sequence[tuple[int, ...]] | None
) -> dict[str, str | None]:
    """The digest of the stored chunks of *array* at *places* (default: its whole
    grid), read back now; None for a chunk absent. A chunk that does not decode
    (being written by another writer) is left out."""
    grid = stored_grid(array)
    chunks = list(grid.items())
    if places is not None:
        wanted = set(map(tuple, places))
        chunks = [(key, coords) for key, coords in chunks if coords in wanted]
    return sync(_read_digests(array, chunks))


async def _read_digests(array: zarr.Array[Any], chunks: list[Chunk]) -> dict[str, str | None]:
    prefix = chunk_prefix(array)
    store = array.store_path.store
    prototype = default_buffer_prototype()
    # a few chunks in memory at once, however many the array holds
    at_once = asyncio.Semaphore(int(zarr.config.get("async.concurrency") or 10))

    async def one(key: str, coords: tuple[int, ...]) -> tuple[str, str | None] | None:
        async with at_once:
            data = await store.get(prefix + key, prototype=prototype)
            if data is None:
                return key, None
            try:
                values = await decode_chunk(array, coords, data)
            except Exception:  # half-written by another writer: it records its own
                return None
            return key, await asyncio.to_thread(chunk_digest, values)

    found = await asyncio.gather(*(one(key, coords) for key, coords in chunks))
    return dict(item for item in found if item is not None)
