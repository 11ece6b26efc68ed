"""crc32c chunk checksums that run where the compression runs.

zarr's own ``crc32c`` codec computes the checksum on zarr's event-loop
thread, one chunk after another, and appends it with a copy of the chunk
(``np.append``); a write of the seed in 2000-row chunks took 1.58 times as
long with it. :class:`Crc32cCodec` is the same codec (the same name, the
same bytes on disk: the chunk, then its crc32c as 4 little-endian bytes)
run in zarr's worker threads, as zarr runs its compressors. It is selected
through zarr's codec registry, so that stores written with either read
with either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import google_crc32c
import numpy as np
import zarr
from zarr.codecs import Crc32cCodec as ZarrCrc32cCodec
from zarr.core.array_spec import ArraySpec
from zarr.core.buffer import Buffer
from zarr.registry import fully_qualified_name, register_codec

from ..errors import ChecksumMismatchError

__all__ = [
    "Crc32cCodec", "checked", "has_checksum", "use_threaded_crc32c", "with_checksum",
    "without_checksum",
]  # fmt: skip

#: the name of the codec in zarr's registry and in array metadata
CODEC_NAME = "crc32c"


def crc32c(data: np.ndarray) -> int:
    """The crc32c of the bytes of *data* (a 1-D uint8 array)."""
    return int(google_crc32c.value(data))


def checked(data: np.ndarray) -> np.ndarray:
    """The bytes of a stored chunk (1-D uint8) before its checksum, once it holds.

    Raises
    ------
    ChecksumMismatchError
        (a ``ValueError``) if the last 4 bytes are not the crc32c of the others.
    """
    if len(data) < 4:
        raise ChecksumMismatchError(f"a chunk of {len(data)} bytes holds no checksum")
    inner = data[:-4]
    stored = int(data[-4:].view("<u4")[0])
    computed = crc32c(inner)
    if computed != stored:
        raise ChecksumMismatchError(f"stored crc32c {stored:#010x}, computed {computed:#010x}")
    return inner


@dataclass(frozen=True, eq=False)
class Crc32cCodec(ZarrCrc32cCodec):
    """zarr's ``crc32c`` codec, computed in a worker thread and written with one copy."""

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer:
        inner = checked(chunk_bytes.as_numpy_array())
        return chunk_spec.prototype.buffer.from_array_like(inner)

    def _encode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer | None:
        data = chunk_bytes.as_numpy_array()
        out = np.empty(len(data) + 4, dtype=np.uint8)
        out[:-4] = data
        out[-4:].view("<u4")[0] = crc32c(data)
        return chunk_spec.prototype.buffer.from_array_like(out)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    async def _encode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer | None:
        return await asyncio.to_thread(self._encode_sync, chunk_bytes, chunk_spec)

    def __eq__(self, other: object) -> bool:
        # the same codec as zarr's: equal to it, as their metadata is
        return isinstance(other, ZarrCrc32cCodec)

    def __hash__(self) -> int:
        return hash(CODEC_NAME)


def use_threaded_crc32c() -> None:
    """Select :class:`Crc32cCodec` for the name ``crc32c`` in zarr's registry.

    Only where zarr's own is selected: a user's choice of another is kept.
    Called on import and before each write, since a reload of zarr's config
    forgets it.
    """
    ours = fully_qualified_name(Crc32cCodec)
    chosen = zarr.config.get(f"codecs.{CODEC_NAME}", None)
    if chosen == ours:
        return
    register_codec(CODEC_NAME, Crc32cCodec)
    if chosen in (None, fully_qualified_name(ZarrCrc32cCodec)):
        zarr.config.set({f"codecs.{CODEC_NAME}": ours})


def has_checksum(codecs: Sequence[Any]) -> bool:
    """Whether *codecs* hold a crc32c codec (zarr's or this one)."""
    return any(isinstance(codec, ZarrCrc32cCodec) for codec in codecs)


def with_checksum(codecs: Sequence[Any]) -> tuple[Any, ...]:
    """*codecs* (zarr 3 bytes-to-bytes codecs) with a crc32c codec last, unless they hold one."""
    if has_checksum(codecs):
        return tuple(codecs)
    return (*codecs, Crc32cCodec())


def without_checksum(codecs: Sequence[Any]) -> tuple[Any, ...]:
    """*codecs* less their crc32c codecs."""
    return tuple(codec for codec in codecs if not isinstance(codec, ZarrCrc32cCodec))
