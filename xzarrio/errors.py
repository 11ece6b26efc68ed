"""One exception tree for xzarrio.

Every class derives from :class:`XzarrioError` and from the builtin a user
would catch anyway, so ``except FileExistsError`` works as well as
``except xzarrio.errors.XzarrioError``.
"""

from __future__ import annotations

__all__ = [
    "AppendMismatchError",
    "ArgumentTypeError",
    "ChecksumMismatchError",
    "ChunkMemoryError",
    "ChunkSizeTypeError",
    "CodecFormatError",
    "InterruptedWriteError",
    "InvalidArgumentError",
    "InvalidAttributeError",
    "InvalidChunksError",
    "InvalidOptionError",
    "ManifestError",
    "MissingDependencyError",
    "NoSourceStoreError",
    "NotAZarrStoreError",
    "NotStorableError",
    "OutOfRangeError",
    "RegionError",
    "RegionKeyError",
    "RegionTypeError",
    "StoreChangedError",
    "StoreExistsError",
    "StoreNotFoundError",
    "StoreNotWritableError",
    "UnknownCompressorError",
    "UnnamedDataArrayError",
    "UnsupportedSchedulerError",
    "WriteInProgressError",
    "XzarrioError",
]


class XzarrioError(Exception):
    """Base class of every error xzarrio raises on purpose."""


class StoreExistsError(XzarrioError, FileExistsError, ValueError):
    """The target store exists and ``mode="w-"`` refuses to replace it."""


class StoreNotFoundError(XzarrioError, FileNotFoundError):
    """The store to read, append to or write a region of does not exist."""


class NotAZarrStoreError(XzarrioError, ValueError):
    """The path exists but holds no zarr store."""


class InvalidChunksError(XzarrioError, ValueError):
    """A ``chunks`` request names a dimension the object lacks or a size below 1."""


class ChunkSizeTypeError(InvalidChunksError, TypeError):
    """A chunk size that is not an integer (xarray raises ``TypeError`` for it)."""


class UnknownCompressorError(XzarrioError, ValueError):
    """A compressor name that xzarrio does not know."""


class CodecFormatError(XzarrioError, TypeError):
    """A codec object that cannot be used with the requested zarr format."""


class InvalidAttributeError(XzarrioError, TypeError, ValueError):
    """An attribute value that cannot be stored as strict JSON (a type or NaN/inf)."""


class AppendMismatchError(XzarrioError, ValueError):
    """Data to append does not fit the store (dims, dtype or sizes)."""


class RegionError(XzarrioError, ValueError):
    """A region write that does not fit the store."""


class RegionTypeError(RegionError, TypeError):
    """A region of the wrong type: not a dict, or not integer slices (xarray: ``TypeError``)."""


class RegionKeyError(RegionError, KeyError):
    """``region="auto"`` with coordinate values the store lacks (xarray: ``KeyError``)."""

    def __str__(self) -> str:
        # KeyError quotes its message as the repr of a key; this one is a sentence
        return str(self.args[0]) if self.args else ""


class UnnamedDataArrayError(XzarrioError, ValueError):
    """A DataArray without a name cannot become a zarr variable."""


class NoSourceStoreError(XzarrioError, ValueError):
    """The object was not read from a store, so there is nothing to reopen."""


class InvalidOptionError(XzarrioError, ValueError):
    """An unknown option name or a bad option value."""


class InvalidArgumentError(XzarrioError, ValueError):
    """Any other argument value outside what is accepted."""


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type, such as ``"no"`` for a flag that takes a bool."""


class ChunkMemoryError(InvalidArgumentError):
    """A chunk too large for a rechunk's ``max_mem`` shared among its workers."""


class NotStorableError(InvalidArgumentError, NotImplementedError):
    """Data zarr cannot hold as it is, such as a MultiIndex (xarray: ``NotImplementedError``)."""


class OutOfRangeError(InvalidArgumentError, OverflowError):
    """Values or a fill value outside what the encoded dtype can hold (no silent wrap-around)."""


class MissingDependencyError(XzarrioError, ImportError):
    """An optional package or program is needed and missing; the message names it."""


class UnsupportedSchedulerError(XzarrioError, ValueError):
    """A scheduler this operation cannot work with."""


class InterruptedWriteError(XzarrioError, RuntimeError):
    """An append or region write was interrupted and left the store half-written.

    The message says how to roll it back (``xzarrio.repair``).
    """


class ManifestError(XzarrioError, ValueError):
    """A variable's manifest that xzarrio cannot trust: it does not read, or it is gone or
    not the one xzarrio wrote last, though its group records it.

    A ``ValueError``, as the ``json`` error of a file that does not read was.
    """

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        #: the store key of the file concerned (a manifest, or a group's metadata)
        self.key = key


class StoreChangedError(XzarrioError, RuntimeError):
    """A store was replaced or changed by a write after it was opened.

    Raised when chunks are read, instead of mixing two versions of the store
    (the message says to open the store again); and when an icechunk session
    cannot commit because its branch moved on since it was made (its changes
    are discarded: write again through a fresh session).
    """


class StoreNotWritableError(XzarrioError, PermissionError):
    """The store, or the place of a new one, takes no writes (read-only)."""


class WriteInProgressError(XzarrioError, RuntimeError):
    """Another writer of the store is still alive; the message says what it is doing."""


class ChecksumMismatchError(XzarrioError, ValueError):
    """A chunk's bytes do not match the crc32c checksum stored with them.

    A ``ValueError``, as zarr's own crc32c codec raises for the same chunk.
    """
