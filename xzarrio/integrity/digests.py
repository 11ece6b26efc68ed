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
it reads. Where filters may change the values (rounding ones), the chunk is
decoded again after it is encoded and the digest is of what decodes.
Sharded arrays get none: their chunks are encoded inside the shard codec,
out of the pipeline's sight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, Protocol, runtime_checkable

import numpy as np
import xxhash
import zarr
from zarr.buffer import cpu
from zarr.codecs import TransposeCodec
from zarr.registry import fully_qualified_name, register_pipeline

from ..seams import BatchedCodecPipeline, CpuNDBufferFirstValueFirst
from .checksums import WRITTEN_IN_PARTS

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
    """The digest of a chunk's decoded values (a numpy array), as hex.

    Numbers are hashed in this machine's byte order, strings and other
    objects one by one (their type and text).
    """
    values = np.asarray(values)
    if values.dtype.kind in "OT":  # strings and other Python objects, element by element
        digest = xxhash.xxh3_128()
        for item in values.ravel(order="C"):
            kind, data = _object_bytes(item)
            digest.update(kind + len(data).to_bytes(8, "little"))
            digest.update(data)
        return digest.hexdigest()
    # the values, not their byte order: a big-endian chunk decodes as the same numbers
    native = values.astype(values.dtype.newbyteorder("="), copy=False)
    flat: Any = np.ascontiguousarray(native).reshape(-1).view(np.uint8)
    return xxhash.xxh3_128_hexdigest(flat)


def _object_bytes(item: Any) -> tuple[bytes, bytes]:
    """What an element of an object chunk is (bytes, None, text) and its bytes."""
    if isinstance(item, bytes):
        return b"b", item
    if item is None:
        return b"n", b""
    return b"s", str(item).encode()


#: in a pipeline's ``write_batch``: where each chunk of the batch goes, if collected
_BATCH: ContextVar[tuple[DigestSink, list[str]] | None] = ContextVar("xzarrio_batch", default=None)


class DigestingPipeline(BatchedCodecPipeline):
    """zarr's batched codec pipeline, handing the digest of every chunk it encodes
    for a store that collects them to that store."""

    async def write_batch(
        self, batch_info: Iterable[Any], value: Any, drop_axes: tuple[int, ...] = ()
    ) -> None:
        batch = list(batch_info)
        if type(value) is cpu.NDBuffer:  # a whole chunk's fill check, from its first value
            value = CpuNDBufferFirstValueFirst(value.as_ndarray_like())
        # a shard's inner chunks come with the shard's byte setters, which have no store
        sink = getattr(batch[0][0], "store", None) if batch else None
        if self.supports_partial_encode or not isinstance(sink, DigestSink):
            await super().write_batch(batch, value, drop_axes)
            return
        token = _BATCH.set((sink, [byte_setter.path for byte_setter, *_ in batch]))
        in_parts = WRITTEN_IN_PARTS.set(bool(getattr(sink, "writes_in_parts", False)))
        try:
            await super().write_batch(batch, value, drop_axes)
        finally:
            WRITTEN_IN_PARTS.reset(in_parts)
            _BATCH.reset(token)

    @property
    def keeps_values(self) -> bool:
        """Whether decoding gives back the very values encoded: no filter (a transpose
        aside), which might round them (``BitRound``, ``Quantize``, float ``Delta``)."""
        if any(not isinstance(codec, TransposeCodec) for codec in self.array_array_codecs):
            return False
        return not getattr(self.array_bytes_codec, "filters", None)  # zarr 2's filters

    async def encode_batch(self, chunk_arrays_and_specs: Iterable[Any]) -> Iterable[Any]:
        pairs = list(chunk_arrays_and_specs)
        batch = _BATCH.get()
        if batch is None:
            return await super().encode_batch(pairs)
        _BATCH.set(None)  # the batch's own chunks only, not a codec's inner ones
        sink, keys = batch
        encoded = list(await super().encode_batch(pairs))
        arrays = [array for array, _ in pairs]
        if not self.keeps_values:  # the digest of what a reader will decode
            arrays = list(
                await self.decode_batch(zip(encoded, [spec for _, spec in pairs], strict=True))
            )
        # in zarr's worker threads, as its codecs run: not on its one event-loop thread
        digests = await asyncio.gather(*(_digest_of(array) for array in arrays))
        sink.record_digests(dict(zip(keys, digests, strict=True)))
        return encoded


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
