"""A digest of every chunk a write stores, taken from the values zarr encodes.

zarr's codec pipeline is the one place that holds a chunk's key and its
whole array (old values merged with new ones, the edge padded with the fill
value) just before it is encoded. :class:`DigestingPipeline` is zarr's own
pipeline with one addition: where the chunk goes to a store that collects
digests (a write's :class:`~xzarrio.writing.guard.GuardedStore`), it hands
that store the digest of the chunk's values, or None for a chunk zarr
deletes (all fill value, left out as zarr means). No second pass over the
data: xxh3-128 runs at about 20 GB/s a core and releases the GIL.

The digest is of the decoded values, so that a change of codec keeps it,
and :mod:`~xzarrio.integrity.verify` computes it the same way from a chunk
it reads. Sharded arrays get none: their chunks are encoded inside the
shard codec, out of the pipeline's sight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, Protocol, runtime_checkable

import numpy as np
import xxhash
import zarr
from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.registry import fully_qualified_name, register_pipeline

__all__ = ["DIGEST_ALGORITHM", "DigestSink", "DigestingPipeline", "chunk_digest", "use_digests"]

#: the name of the chunk digest, as manifests record it
DIGEST_ALGORITHM = "xxh3-128"

#: zarr's default pipeline, the one this one extends
_ZARR_PIPELINE = fully_qualified_name(BatchedCodecPipeline)


@runtime_checkable
class DigestSink(Protocol):
    """A store that keeps the digests of the chunks written through it."""

    def record_digests(self, digests: dict[str, str | None]) -> None:
        """Keep *digests*: the store key of each chunk, its digest or None (deleted)."""


def chunk_digest(values: Any) -> str:
    """The digest of a chunk's decoded values (a numpy array), as hex."""
    values = np.asarray(values)
    if values.dtype.kind in "OT":  # strings and other Python objects, element by element
        digest = xxhash.xxh3_128()
        for item in values.ravel(order="C"):
            data = item if isinstance(item, bytes) else str(item).encode()
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
        return digest.hexdigest()
    flat: Any = np.ascontiguousarray(values).reshape(-1).view(np.uint8)
    return xxhash.xxh3_128_hexdigest(flat)


#: in a pipeline's ``write_batch``: where each chunk of the batch goes, if collected
_BATCH: ContextVar[tuple[DigestSink, list[str]] | None] = ContextVar("xzarrio_batch", default=None)


class DigestingPipeline(BatchedCodecPipeline):
    """zarr's batched codec pipeline, handing the digest of every chunk it encodes
    for a store that collects them to that store."""

    async def write_batch(
        self, batch_info: Iterable[Any], value: Any, drop_axes: tuple[int, ...] = ()
    ) -> None:
        batch = list(batch_info)
        # a shard's inner chunks come with the shard's byte setters, which have no store
        sink = getattr(batch[0][0], "store", None) if batch else None
        if self.supports_partial_encode or not isinstance(sink, DigestSink):
            await super().write_batch(batch, value, drop_axes)
            return
        token = _BATCH.set((sink, [byte_setter.path for byte_setter, *_ in batch]))
        try:
            await super().write_batch(batch, value, drop_axes)
        finally:
            _BATCH.reset(token)

    async def encode_batch(self, chunk_arrays_and_specs: Iterable[Any]) -> Iterable[Any]:
        pairs = list(chunk_arrays_and_specs)
        batch = _BATCH.get()
        if batch is not None:
            _BATCH.set(None)  # the batch's own chunks only, not a codec's inner ones
            sink, keys = batch
            # in zarr's worker threads, as its codecs run: not on its one event-loop thread
            digests = await asyncio.gather(*(_digest_of(array) for array, _ in pairs))
            sink.record_digests(dict(zip(keys, digests, strict=True)))
        return await super().encode_batch(pairs)


async def _digest_of(array: Any) -> str | None:
    """The digest of a chunk's array (None: zarr deletes the chunk), in a worker thread."""
    if array is None:
        return None
    return await asyncio.to_thread(chunk_digest, array.as_numpy_array())


def use_digests() -> bool:
    """Select :class:`DigestingPipeline` as zarr's codec pipeline; whether it is selected.

    Only where zarr's own pipeline is selected: a user's choice of another is
    kept, and writes then record no digests.
    """
    ours = fully_qualified_name(DigestingPipeline)
    chosen = zarr.config.get("codec_pipeline.path")
    if chosen == _ZARR_PIPELINE:
        register_pipeline(DigestingPipeline)
        zarr.config.set({"codec_pipeline.path": ours})
        return True
    return bool(chosen == ours)
