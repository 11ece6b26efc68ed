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
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import google_crc32c
import numpy as np
import zarr
from zarr.abc.buffer import Buffer
from zarr.buffer.cpu import Buffer as CpuBuffer
from zarr.codecs import Crc32cCodec as ZarrCrc32cCodec
from zarr.registry import fully_qualified_name, register_codec

from ..errors import ChecksumMismatchError
from ..seams import INLINE_BYTES, ArraySpec, CpuBufferJoinedWhenRead, atomic_write

__all__ = [
    "ChecksummedBuffer", "Crc32cCodec", "checked", "has_checksum", "use_threaded_crc32c",
    "with_checksum", "without_checksum", "write_parts",
]  # fmt: skip

T = TypeVar("T")

#: the name of the codec in zarr's registry and in array metadata
CODEC_NAME = "crc32c"

_crc: Callable[[Any], int]
try:
    from crc32c import crc32c as _crc
except ImportError:  # pragma: no cover - the package is a dependency; zarr's serves without it
    _crc = google_crc32c.value


def crc32c(data: np.ndarray) -> int:
    """The crc32c of the bytes of *data* (a 1-D uint8 array).

    The ``crc32c`` package computes it with the CPU's own instruction at about
    17 GB/s a core and releases the GIL; ``google-crc32c`` (zarr's) reaches
    about 5.5 GB/s and holds it: it serves where the first is not installed.
    """
    return int(_crc(data))


def _checksum_of(data: np.ndarray) -> bytes:
    """The 4 bytes the codec appends to *data*: its crc32c, little-endian."""
    return crc32c(data).to_bytes(4, "little")


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


#: set by a codec pipeline whose chunks go to a store that writes a
#: :class:`ChecksummedBuffer` in parts (a write's own store over a local folder)
WRITTEN_IN_PARTS: ContextVar[bool] = ContextVar("xzarrio_written_in_parts", default=False)


class ChecksummedBuffer(CpuBufferJoinedWhenRead):
    """A chunk's encoded bytes and their crc32c, joined only when asked for whole.

    Joining them is a copy of every chunk into memory the kernel must first
    map, about a quarter of zstd's own time on a chunk of noise. The codec
    hands one out only where the store writes the two :attr:`parts` of the
    file one after the other (:data:`WRITTEN_IN_PARTS`, :func:`write_parts`);
    whatever else reads it gets the bytes whole, and a buffer made from one
    (a slice) is an ordinary buffer of joined bytes.
    """

    def __init__(self, array_like: Any, checksum: bytes | None = None) -> None:
        self.parts = None if checksum is None else (np.asarray(array_like), checksum)
        self._whole = None if checksum is not None else array_like

    @property
    def joined(self) -> Any:
        if self._whole is None and self.parts is not None:
            payload, checksum = self.parts
            self._whole = np.concatenate([payload, np.frombuffer(checksum, dtype=np.uint8)])
        return self._whole

    @joined.setter
    def joined(self, value: Any) -> None:
        self.parts, self._whole = None, value

    def __len__(self) -> int:
        if self.parts is not None:
            return len(self.parts[0]) + len(self.parts[1])
        return len(self.joined)


def write_parts(path: Path, buffer: ChecksummedBuffer) -> None:
    """Write *buffer* to the file *path* part by part, as zarr's ``LocalStore`` writes
    a chunk: to a ``.partial`` file beside it, renamed over it once whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as file:
        if buffer.parts is None:
            file.write(buffer.as_numpy_array().data)
            return
        payload, checksum = buffer.parts
        file.write(payload.data)
        file.write(checksum)


@dataclass(frozen=True, eq=False)
class Crc32cCodec(ZarrCrc32cCodec):
    """zarr's ``crc32c`` codec, computed in a worker thread, its bytes not copied; a
    chunk of at most :data:`~xzarrio.seams.INLINE_BYTES` in the event loop's own thread
    (its checksum takes microseconds, the hop to a worker thread about 0.3 ms)."""

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer:
        inner = checked(chunk_bytes.as_numpy_array())
        return chunk_spec.prototype.buffer.from_array_like(inner)

    def _encode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer | None:
        data = chunk_bytes.as_numpy_array()
        checksum = np.frombuffer(_checksum_of(data), dtype=np.uint8)
        return chunk_spec.prototype.buffer.from_array_like(np.concatenate([data, checksum]))

    def _encode_in_parts(self, chunk_bytes: Buffer) -> ChecksummedBuffer:
        data = chunk_bytes.as_numpy_array()
        return ChecksummedBuffer(data, _checksum_of(data))

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer:
        return await _where_it_pays(self._decode_sync, chunk_bytes, chunk_spec)

    async def _encode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer | None:
        if WRITTEN_IN_PARTS.get() and chunk_spec.prototype.buffer is CpuBuffer:
            return await _where_it_pays(self._encode_in_parts, chunk_bytes)
        return await _where_it_pays(self._encode_sync, chunk_bytes, chunk_spec)

    def __eq__(self, other: object) -> bool:
        # the same codec as zarr's: equal to it, as their metadata is
        return isinstance(other, ZarrCrc32cCodec)

    def __hash__(self) -> int:
        return hash(CODEC_NAME)


async def _where_it_pays(work: Callable[..., T], chunk_bytes: Buffer, *args: Any) -> T:
    """*work* on *chunk_bytes*: here for a small chunk, else in a worker thread."""
    if len(chunk_bytes) <= INLINE_BYTES:
        return work(chunk_bytes, *args)
    return await asyncio.to_thread(work, chunk_bytes, *args)


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
