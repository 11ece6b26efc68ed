"""Compressor names and codec objects, for zarr formats 2 and 3 alike.

Format 3 takes zarr's own ``BytesBytesCodec`` objects, format 2 takes numcodecs
codecs. A user may hand either kind for either format: known codecs are
translated to their twin, anything else must already fit the format.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import numcodecs
import numpy as np
from numcodecs.abc import Codec as NumcodecsCodec
from zarr.abc.codec import ArrayArrayCodec, BytesBytesCodec
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

from .errors import CodecFormatError, UnknownCompressorError

__all__ = [
    "COMPRESSOR_NAMES", "default_name", "describe_codecs", "is_codec", "quiet_spec_notes",
    "resolve_compressors",
]  # fmt: skip

#: the names ``to_zarr(compressor=...)`` understands, with what each means
COMPRESSOR_NAMES: dict[str, str] = {
    "default": "blosc-zstd on floating-point variables, zstd on the others (the default)",
    "blosc-zstd": "Blosc with Zstandard inside, level 2, byte shuffle, blocks of 4 MiB",
    "blosc-zstd-bit": "Blosc with Zstandard inside, level 1, bit shuffle, blocks of 4 MiB",
    "zstd": "Zstandard, level 3",
    "lz4": "LZ4 (numcodecs; outside the zarr v3 core spec)",
    "blosc": "Blosc with LZ4 inside, level 5, byte shuffle",
    "gzip": "gzip (zlib), level 5",
    "none": "no compression",
    "auto": "per variable, the candidate that stores a sample of its chunks smallest among "
    "those that encode it at least 90 % as fast as the default",
}


@contextmanager
def quiet_spec_notes() -> Iterator[None]:
    """Silence zarr's notes that consolidated metadata and numcodecs codecs (lz4) are
    outside the zarr 3 spec: it makes them each time it reads such metadata, so a
    user who asked for lz4 would hear it on every write, open and report."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        warnings.filterwarnings("ignore", message="Numcodecs codecs are not in")
        yield


def is_codec(value: Any) -> bool:
    """Whether *value* is a codec object of zarr 3 or numcodecs."""
    return isinstance(value, BytesBytesCodec | NumcodecsCodec)


def _lz4_v3() -> BytesBytesCodec:
    from zarr.codecs.numcodecs import LZ4

    # We choose lz4 on the user's behalf by name; the docs say it is a
    # numcodecs codec, so zarr's warning about the v3 spec would only be noise.
    with quiet_spec_notes():
        return LZ4()


#: Blosc's block of the default codec: byte shuffle and zstd see 4 MiB at once
#: (Blosc's own choice at level 2, 256 KiB, stores the smooth field 2 % larger)
_BLOSC_ZSTD_BLOCK = 4 * 2**20


def default_name(dtype: Any) -> str:
    """The named codec ``"default"`` gives a variable of *dtype* (None: not a float)."""
    floating = dtype is not None and np.dtype(dtype).kind == "f"
    return "blosc-zstd" if floating else "zstd"


def _by_name(name: str, zarr_format: int, dtype: Any) -> tuple[Any, ...]:
    if name == "default":
        name = default_name(dtype)
    if name == "none":
        return ()
    if zarr_format == 3:
        v3: dict[str, Callable[[], BytesBytesCodec]] = {
            "blosc-zstd": lambda: BloscCodec(
                cname="zstd", clevel=2, shuffle="shuffle", blocksize=_BLOSC_ZSTD_BLOCK
            ),
            "blosc-zstd-bit": lambda: BloscCodec(
                cname="zstd", clevel=1, shuffle="bitshuffle", blocksize=_BLOSC_ZSTD_BLOCK
            ),
            "zstd": lambda: ZstdCodec(level=3),
            "lz4": _lz4_v3,
            "blosc": lambda: BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
            "gzip": lambda: GzipCodec(level=5),
        }
        return (v3[name](),)
    v2: dict[str, Callable[[], NumcodecsCodec]] = {
        "blosc-zstd": lambda: numcodecs.Blosc(
            "zstd", 2, numcodecs.Blosc.SHUFFLE, blocksize=_BLOSC_ZSTD_BLOCK
        ),
        "blosc-zstd-bit": lambda: numcodecs.Blosc(
            "zstd", 1, numcodecs.Blosc.BITSHUFFLE, blocksize=_BLOSC_ZSTD_BLOCK
        ),
        "zstd": lambda: numcodecs.Zstd(level=3),
        "lz4": lambda: numcodecs.LZ4(),
        "blosc": lambda: numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE),
        "gzip": lambda: numcodecs.GZip(level=5),
    }
    return (v2[name](),)


_BLOSC_SHUFFLE_V2 = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def _to_v2(codec: Any) -> NumcodecsCodec:
    if isinstance(codec, NumcodecsCodec):
        return codec
    if isinstance(codec, ZstdCodec):
        return numcodecs.Zstd(level=codec.level, checksum=codec.checksum)
    if isinstance(codec, GzipCodec):
        return numcodecs.GZip(level=codec.level)
    if isinstance(codec, BloscCodec):
        return numcodecs.Blosc(
            cname=codec.cname.value,
            clevel=codec.clevel,
            shuffle=_BLOSC_SHUFFLE_V2[codec.shuffle.value],
            blocksize=codec.blocksize,
        )
    # zarr's wrappers of numcodecs codecs carry the numcodecs config
    config = getattr(codec, "codec_config", None)
    codec_name = getattr(codec, "codec_name", "")
    if config is not None and codec_name.startswith("numcodecs."):
        return numcodecs.get_codec({"id": codec_name.removeprefix("numcodecs."), **config})
    raise CodecFormatError(
        f"codec {codec!r} has no zarr format 2 equivalent; use a numcodecs codec or zarr_format=3"
    )


def _to_v3(codec: Any) -> BytesBytesCodec:
    if isinstance(codec, BytesBytesCodec):
        return codec
    if isinstance(codec, numcodecs.Zstd):
        return ZstdCodec(level=codec.level, checksum=bool(getattr(codec, "checksum", False)))
    if isinstance(codec, numcodecs.GZip):
        return GzipCodec(level=codec.level)
    if isinstance(codec, numcodecs.Blosc):
        shuffle = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}.get(codec.shuffle, "shuffle")
        return BloscCodec(
            cname=cast(
                Any, codec.cname.decode() if isinstance(codec.cname, bytes) else codec.cname
            ),
            clevel=codec.clevel,
            shuffle=cast(Any, shuffle),
            blocksize=codec.blocksize,
        )
    config = codec.get_config()
    wrapper = _zarr3_twin(config.pop("id"))
    if wrapper is None or not issubclass(wrapper, BytesBytesCodec):
        raise CodecFormatError(
            f"codec {codec!r} cannot compress zarr format 3 chunks; "
            "use a zarr.codecs compressor or zarr_format=2"
        )
    with quiet_spec_notes():
        return wrapper(**config)


def _zarr3_twin(codec_id: str) -> type | None:
    """zarr's format-3 wrapper of the numcodecs codec *codec_id*, or None."""
    import zarr.codecs.numcodecs as wrappers

    return next(
        (
            cls
            for cls in vars(wrappers).values()
            if isinstance(cls, type) and getattr(cls, "codec_name", None) == f"numcodecs.{codec_id}"
        ),
        None,
    )


def _refuse_filter(codec: Any) -> None:
    """Refuse a numcodecs filter (an array-to-array codec) given as a compressor.

    Format 2 would store it as the array's compressor: nothing compressed,
    and a lossy one (``Quantize``, ``BitRound``) said to be lossless.
    """
    twin = _zarr3_twin(codec.codec_id) if isinstance(codec, NumcodecsCodec) else None
    if twin is not None and issubclass(twin, ArrayArrayCodec):
        raise CodecFormatError(
            f"codec {codec!r} is a filter, not a compressor: it changes the values, and "
            "stored as a compressor it would compress nothing; give it as a filter, "
            f"encoding={{name: {{'filters': [{codec!r}]}}}}, and a compressor such as 'zstd'"
        )


def resolve_compressors(compressor: Any, zarr_format: int, dtype: Any = None) -> tuple[Any, ...]:
    """Turn a compressor name or codec object into zarr's ``compressors`` tuple.

    Parameters
    ----------
    compressor : str, codec or None
        One of :data:`COMPRESSOR_NAMES` (``None`` means ``"none"``), or a codec
        object of zarr 3 or numcodecs.
    zarr_format : {2, 3}
        The format the codec must fit.
    dtype : numpy dtype, optional
        The dtype of the variable to compress: ``"default"`` picks by it
        (``"zstd"`` where it is not given).

    Raises
    ------
    UnknownCompressorError
        (a ``ValueError``) for a name not in :data:`COMPRESSOR_NAMES`.
    CodecFormatError
        (a ``TypeError``) for an object that is no codec, a filter (an array-to-array
        codec such as ``numcodecs.Delta``), or a codec that fits neither format.

    Examples
    --------
    >>> resolve_compressors("zstd", 3)
    (ZstdCodec(level=3, checksum=False),)
    >>> resolve_compressors("gzip", 2)
    (GZip(level=5),)
    >>> resolve_compressors("default", 2, "float32")
    (Blosc(cname='zstd', clevel=2, shuffle=SHUFFLE, blocksize=4194304),)
    """
    if compressor is None:
        compressor = "none"
    if isinstance(compressor, str):
        name = compressor.lower()
        if name == "auto":
            raise UnknownCompressorError(
                "compressor 'auto' is chosen per variable by a write (to_zarr, rechunk, "
                "copy) from a sample of its data; here give a codec or another name"
            )
        if name not in COMPRESSOR_NAMES:
            raise UnknownCompressorError(
                f"unknown compressor {compressor!r}; expected one of "
                f"{list(COMPRESSOR_NAMES)} or a zarr/numcodecs codec object"
            )
        return _by_name(name, zarr_format, dtype)
    _refuse_filter(compressor)
    if not is_codec(compressor):
        raise CodecFormatError(
            f"compressor must be a name ({list(COMPRESSOR_NAMES)}) or a zarr/numcodecs "
            f"codec object, got {compressor!r} of type {type(compressor).__name__}"
        )
    return (_to_v3(compressor) if zarr_format == 3 else _to_v2(compressor),)


#: how a Blosc codec's shuffle shows in its short name (byte shuffle is Blosc's default)
_SHUFFLE_SUFFIX: dict[Any, str] = {
    "bitshuffle": "-bit",
    2: "-bit",
    "noshuffle": "-noshuffle",
    0: "-noshuffle",
}


def describe_codecs(codecs: Any) -> str:
    """A short human-readable name for a sequence of codecs (``"zstd(3)"``)."""
    parts = []
    for codec in codecs or ():
        if codec is None:
            continue
        name = type(codec).__name__.removesuffix("Codec").lower()
        level = getattr(codec, "level", None)
        if level is None:
            level = getattr(codec, "clevel", None)
        cname = getattr(codec, "cname", None)
        if cname is not None:
            cname = getattr(cname, "value", cname)
            name = f"{name}-{cname.decode() if isinstance(cname, bytes) else cname}"
            shuffle = getattr(codec, "shuffle", None)
            name += _SHUFFLE_SUFFIX.get(getattr(shuffle, "value", shuffle), "")
        parts.append(f"{name}({level})" if level is not None else name)
    return " + ".join(parts) if parts else "none"
