"""Compressor names and codec objects of both families, in zarr formats 2 and 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numcodecs
import pytest
import xarray as xr
import zarr
from zarr.abc.codec import BytesBytesCodec
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

import xzarrio
from xzarrio.codecs import COMPRESSOR_NAMES, resolve_compressors
from xzarrio.errors import CodecFormatError

from .conftest import assert_same_data


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["v2", "v3"])
@pytest.mark.parametrize("name", list(COMPRESSOR_NAMES))
def test_every_compressor_name_in_both_formats(
    tmp_path: Path, small: xr.Dataset, name: str, zarr_format: int
) -> None:
    report = small.zio.to_zarr(tmp_path / "s.zarr", compressor=name, zarr_format=zarr_format)
    array = zarr.open_array(tmp_path / "s.zarr" / "temp")
    assert array.metadata.zarr_format == zarr_format
    compressors = array.compressors
    if zarr_format == 3:  # a crc32c checksum last, by default
        assert type(compressors[-1]).__name__ == "Crc32cCodec"
        compressors = compressors[:-1]
    family = {"default": "blosc", "blosc-zstd": "blosc"}.get(name, name)
    expected = [] if name == "none" else [family]
    assert [type(c).__name__.lower()[: len(family)] for c in compressors] == expected
    out = xzarrio.open_zarr(tmp_path / "s.zarr")
    assert_same_data(out, small)
    assert report.zarr_format == zarr_format


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["v2", "v3"])
@pytest.mark.parametrize(
    "codec",
    [
        ZstdCodec(level=1),
        GzipCodec(level=2),
        BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),
        numcodecs.Zstd(level=4),
        numcodecs.GZip(level=6),
        numcodecs.LZ4(),
        numcodecs.Blosc("lz4", 2),
        numcodecs.Zlib(level=1),
        numcodecs.BZ2(level=1),
    ],
    ids=lambda c: type(c).__module__.split(".")[0] + "-" + type(c).__name__,
)
def test_codec_objects_of_both_families_in_both_formats(
    tmp_path: Path,
    small: xr.Dataset,
    codec: numcodecs.abc.Codec | BytesBytesCodec,
    zarr_format: int,
) -> None:
    small.zio.to_zarr(tmp_path / "s.zarr", compressor=codec, zarr_format=zarr_format)
    assert_same_data(xzarrio.open_zarr(tmp_path / "s.zarr"), small)


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["v2", "v3"])
def test_the_default_shuffles_floats_and_keeps_zstd_for_the_rest(
    tmp_path: Path, small: xr.Dataset, zarr_format: int
) -> None:
    small.zio.to_zarr(tmp_path / "s.zarr", zarr_format=zarr_format)
    floats: Any = zarr.open_array(tmp_path / "s.zarr" / "temp").compressors[0]
    others = zarr.open_array(tmp_path / "s.zarr" / "mask").compressors[0]
    if zarr_format == 3:
        blosc = (floats.cname.value, floats.clevel, floats.shuffle.value, floats.blocksize)
        assert blosc == ("zstd", 2, "shuffle", 4 * 2**20)
    else:
        blosc = (floats.cname, floats.clevel, floats.shuffle, floats.blocksize)
        assert blosc == ("zstd", 2, numcodecs.Blosc.SHUFFLE, 4 * 2**20)
    assert isinstance(others, ZstdCodec if zarr_format == 3 else numcodecs.Zstd)


def test_zstd_by_name_is_zstd_alone_on_floats(tmp_path: Path, small: xr.Dataset) -> None:
    small.zio.to_zarr(tmp_path / "s.zarr", compressor="zstd", checksums=False)
    assert zarr.open_array(tmp_path / "s.zarr" / "temp").compressors == (ZstdCodec(level=3),)


def test_default_compressor_follows_set_options(tmp_path: Path, small: xr.Dataset) -> None:
    with xzarrio.set_options(compressor="gzip"):
        small.zio.to_zarr(tmp_path / "s.zarr")
    assert isinstance(zarr.open_array(tmp_path / "s.zarr" / "temp").compressors[0], GzipCodec)


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["v2", "v3"])
@pytest.mark.parametrize(
    "codec",
    [numcodecs.Delta(dtype="f8"), numcodecs.Quantize(digits=2, dtype="f8"), numcodecs.BitRound(4)],
    ids=lambda c: type(c).__name__,
)
def test_a_filter_is_no_compressor(codec: numcodecs.abc.Codec, zarr_format: int) -> None:
    """A filter changes values, not bytes: as a compressor it compresses nothing (format 2
    stored it so, a lossy one said to be lossless), so it is refused in either format."""
    with pytest.raises(CodecFormatError, match=r"is a filter, not a compressor.*'filters'"):
        resolve_compressors(codec, zarr_format)
