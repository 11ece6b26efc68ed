"""Compressor names and codec objects of both families, in zarr formats 2 and 3."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import xarray as xr
import zarr
from zarr.abc.codec import BytesBytesCodec
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

import xzarrio
from xzarrio.autocodec import CANDIDATES, pick
from xzarrio.codecs import (
    COMPRESSOR_NAMES,
    default_name,
    describe_codecs,
    resolve_compressors,
)
from xzarrio.errors import CodecFormatError, UnknownCompressorError
from xzarrio.samples import climate_fields

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
    names = [type(c).__name__.lower() for c in compressors]
    if name == "auto":  # one of the candidates it measures
        assert len(names) == 1 and names[0].startswith(("blosc", "zstd", "lz4"))
    else:
        family = {"default": "blosc", "blosc-zstd": "blosc", "blosc-zstd-bit": "blosc"}
        expected = [] if name == "none" else [family.get(name, name)]
        assert [n[: len(e)] for n, e in zip(names, expected, strict=True)] == expected
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


def test_auto_picks_the_smallest_of_the_codecs_about_as_fast_as_the_default() -> None:
    ratios = {"blosc-zstd": 1.8, "blosc-zstd-bit": 1.9, "blosc": 1.5, "zstd": 1.2, "lz4": 2.5}
    rates = {"blosc-zstd": 500, "blosc-zstd-bit": 460, "blosc": 900, "zstd": 600, "lz4": 100}
    floats = "blosc-zstd"
    assert pick(ratios, rates, floats) == "blosc-zstd-bit"  # lz4 is smaller, but 5x slower
    assert pick(ratios, {**rates, "blosc-zstd-bit": 440}, floats) == "blosc-zstd"
    assert pick({**ratios, "blosc": 1.9}, rates, floats) == "blosc"  # as small, and faster


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["v2", "v3"])
def test_auto_records_its_choice_and_never_stores_the_sample_larger(
    tmp_path: Path, small: xr.Dataset, zarr_format: int
) -> None:
    ds = small.assign(counts=(("time", "y", "x"), np.arange(14_400).reshape(12, 30, 40)))
    report = ds.zio.to_zarr(tmp_path / "a.zarr", compressor="auto", zarr_format=zarr_format)
    call = report.provenance.history[0].text
    chosen = re.findall(r"'(\w+)': '([\w-]+) \(([\d.]+)x, (\d+) MB/s\)'", call)
    assert {name for name, *_ in chosen} == {"temp", "counts", "mask", "x", "y"}
    for name, codec, _, _ in chosen:
        stored = xzarrio.info(tmp_path / "a.zarr")[name].codecs
        assert stored.startswith(describe_codecs(resolve_compressors(codec, zarr_format)))
    assert_same_data(xzarrio.open_zarr(tmp_path / "a.zarr"), ds)


def test_auto_measures_the_data_as_it_is_stored(tmp_path: Path) -> None:
    """With keepbits, the sample is rounded first: the figures are those of rounded data."""
    field = climate_fields(2, 90, 180).tas
    lossless = field.zio.to_zarr(tmp_path / "a.zarr", compressor="auto")
    rounded = field.zio.to_zarr(tmp_path / "b.zarr", compressor="auto", keepbits=4)
    ratio = re.compile(r"'tas': '[\w-]+ \(([\d.]+)x")
    first = ratio.search(lossless.provenance.history[0].text)
    second = ratio.search(rounded.provenance.history[0].text)
    assert first and second and float(second[1]) > 3 * float(first[1])


def test_the_choice_of_auto_happens_in_a_write_not_in_encoding() -> None:
    with pytest.raises(UnknownCompressorError, match=r"compressor 'auto' is chosen per variable"):
        resolve_compressors("auto", 3)
    with xzarrio.set_options(compressor="auto"):
        assert xzarrio.get_option("compressor") == "auto"
    # each variable's default is the yardstick of the rule, and among the candidates
    assert (default_name("float32"), default_name("int64")) == ("blosc-zstd", "zstd")
    assert {default_name("float32"), default_name("int64")} <= set(CANDIDATES)


def test_auto_judges_each_variable_against_its_own_default() -> None:
    """Integers default to zstd: auto may not pick a codec that stores them larger."""
    ratios = {"blosc-zstd": 4.0, "blosc-zstd-bit": 3.0, "blosc": 2.0, "zstd": 5.0, "lz4": 1.5}
    rates = {"blosc-zstd": 900, "blosc-zstd-bit": 800, "blosc": 2000, "zstd": 500, "lz4": 3000}
    assert pick(ratios, rates, default="zstd") == "zstd"
    assert pick(ratios, rates, default="blosc-zstd") == "blosc-zstd"


def test_auto_in_capitals_is_auto(tmp_path: Path, small: xr.Dataset) -> None:
    report = small.zio.to_zarr(tmp_path / "a.zarr", compressor="AUTO")
    assert "'temp': 'blosc" in report.provenance.history[0].text
    assert_same_data(xzarrio.open_zarr(tmp_path / "a.zarr"), small)
