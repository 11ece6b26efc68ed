"""keepbits: mantissas rounded before the codec, recorded as CF 1.12 says, kept by appends."""

from __future__ import annotations

import json
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import xarray as xr
import zarr

import xzarrio
from xzarrio.errors import InvalidArgumentError
from xzarrio.rounding import CONTAINER, MANTISSA_BITS, bitround, kept_bits_of

DTYPES = ["float16", "float32", "float64"]


def _mixed(dtype: str, n: int = 20_000) -> np.ndarray:
    """Values of both signs over twelve orders of magnitude, with the dtype's edge cases."""
    rng = np.random.default_rng(1)
    values = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 3, n)
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepbits", [0, 1, 4, 7, 10])
def test_bitround_is_numcodecs_bitround(dtype: str, keepbits: int) -> None:
    values = _mixed(dtype)
    codec = numcodecs.BitRound(keepbits)
    expected = np.frombuffer(codec.decode(codec.encode(values)), dtype=dtype)
    np.testing.assert_array_equal(bitround(values, keepbits), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepbits", [0, 3, 9])
def test_every_value_is_within_half_a_unit_in_its_last_kept_bit(dtype: str, keepbits: int) -> None:
    values = _mixed(dtype)
    values = values[np.abs(values) >= np.finfo(dtype).smallest_normal]  # subnormals: on bits
    rounded = bitround(values, keepbits)
    _, exponent = np.frexp(values.astype("f8"))  # values = m * 2**exponent, 0.5 <= |m| < 1
    half_unit = np.ldexp(1.0, exponent - 1 - keepbits - 1)
    assert np.all(np.abs(rounded.astype("f8") - values.astype("f8")) <= half_unit)


def test_ties_go_to_even_and_nan_inf_zero_stay() -> None:
    values = np.array([1.25, 1.75, np.nan, np.inf, -np.inf, 0.0, -0.0], dtype="f4")
    rounded = bitround(values, 1)
    np.testing.assert_array_equal(rounded[:2], [1.0, 2.0])
    assert np.isnan(rounded[2]) and list(rounded[3:5]) == [np.inf, -np.inf]
    assert rounded[5:].tobytes() == values[5:].tobytes()


def test_a_value_that_would_round_past_the_largest_float_rounds_down() -> None:
    largest = np.finfo("f4").max
    assert np.isfinite(bitround(np.array([largest], dtype="f4"), 2)).all()


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["v2", "v3"])
def test_keepbits_rounds_the_floats_and_records_it_as_cf_says(
    tmp_path: Path, small: xr.Dataset, zarr_format: int
) -> None:
    path = tmp_path / "k.zarr"
    report = small.zio.to_zarr(path, keepbits=7, zarr_format=zarr_format)
    back = xr.open_zarr(path)
    np.testing.assert_array_equal(back.temp.values, bitround(small.temp.values, 7))
    np.testing.assert_array_equal(back.mask.values, small.mask.values)  # no float: untouched
    assert back.temp.attrs["quantization"] == CONTAINER
    assert back.temp.attrs["quantization_nsb"] == 7
    assert "quantization" not in back.mask.attrs
    assert back[CONTAINER].attrs["algorithm"] == "bitround"
    assert back[CONTAINER].attrs["implementation"].startswith("xzarrio version ")
    assert "keepbits={'temp': 7}" in report.provenance.history[0].text
    assert xzarrio.info(path)["temp"].keepbits == 7
    assert xzarrio.info(path)["mask"].keepbits is None


def test_no_rounding_codec_goes_into_the_metadata(tmp_path: Path, small: xr.Dataset) -> None:
    small.zio.to_zarr(tmp_path / "k.zarr", keepbits=3)
    metadata = json.loads((tmp_path / "k.zarr" / "temp" / "zarr.json").read_text())
    assert "bitround" not in json.dumps(metadata["codecs"]).lower()
    array = zarr.open_array(tmp_path / "k.zarr" / "temp")
    np.testing.assert_array_equal(array[:], bitround(small.temp.values, 3))


def test_keepbits_by_variable_and_on_dask_data(tmp_path: Path, small_chunked: xr.Dataset) -> None:
    ds = small_chunked.assign(other=small_chunked.temp * 2)
    ds.zio.to_zarr(tmp_path / "k.zarr", keepbits={"temp": 2, "other": 12})
    back = xr.open_zarr(tmp_path / "k.zarr")
    np.testing.assert_array_equal(back.temp.values, bitround(ds.temp.values, 2))
    np.testing.assert_array_equal(back.other.values, bitround(ds.other.values, 12))
    assert (back.temp.attrs["quantization_nsb"], back.other.attrs["quantization_nsb"]) == (2, 12)


def test_an_int_rounds_data_variables_not_coordinates(tmp_path: Path) -> None:
    lat = np.linspace(-89.5, 89.5, 180)
    ds = xr.Dataset(
        {"t": (("lat",), np.linspace(250, 300, 180, dtype="f4"))},
        coords={"lat": lat, "area": ("lat", np.cos(np.deg2rad(lat)))},
    )
    ds.zio.to_zarr(tmp_path / "k.zarr", keepbits=3)
    back = xr.open_zarr(tmp_path / "k.zarr")
    np.testing.assert_array_equal(back.lat.values, lat)
    np.testing.assert_array_equal(back.area.values, ds.area.values)
    assert back.t.attrs["quantization_nsb"] == 3


def test_fill_values_and_nan_are_exempt(tmp_path: Path) -> None:
    values = np.array([1.2345, np.nan, -999.0, 3.3333], dtype="f4")
    ds = xr.Dataset({"v": ("x", values)})
    ds.v.encoding["_FillValue"] = -999.0
    ds.zio.to_zarr(tmp_path / "k.zarr", keepbits=2)
    back = xr.open_zarr(tmp_path / "k.zarr", mask_and_scale=False).v.values
    assert back[2] == -999.0  # NaN became the fill value, exactly
    assert back[0] == bitround(values[:1], 2)[0]


def test_a_fill_value_given_in_encoding_is_exempt(tmp_path: Path) -> None:
    values = np.array([1.2345, -999.0, 3.3333], dtype="f4")
    encoding = {"v": {"_FillValue": -999.0}}
    xr.Dataset({"v": ("x", values)}).zio.to_zarr(tmp_path / "k.zarr", keepbits=2, encoding=encoding)
    back = xr.open_zarr(tmp_path / "k.zarr").v.values
    assert np.isnan(back[1]) and back[0] == bitround(values[:1], 2)[0]


def test_appends_and_region_writes_keep_the_stores_bits(tmp_path: Path, small: xr.Dataset) -> None:
    path = tmp_path / "k.zarr"
    small.isel(time=slice(0, 6)).zio.to_zarr(path, keepbits=5, chunks={"time": 3})
    small.isel(time=slice(6, 12)).zio.to_zarr(path, append_dim="time")
    part = small.isel(time=slice(0, 3)).drop_vars(["time", "mask"]) + 0.123
    part.zio.to_zarr(path, region={"time": slice(0, 3)})
    back = xr.open_zarr(path).temp.values
    np.testing.assert_array_equal(back[6:], bitround(small.temp.values[6:], 5))
    np.testing.assert_array_equal(back[:3], bitround(part.temp.values, 5))


def test_auto_keeps_the_bits_that_carry_information(tmp_path: Path) -> None:
    """A smooth field rounded to 6 bits, then random bits in the other 17: "auto" keeps
    at most the 6 (and enough of them to hold 99 % of the information)."""
    rng = np.random.default_rng(3)
    y, x = np.meshgrid(np.linspace(0, 6, 400), np.linspace(0, 6, 500), indexing="ij")
    smooth = bitround((280 + 20 * np.sin(y) * np.cos(x)).astype("f4"), 6)
    noisy = smooth.view("u4") | rng.integers(0, 2**17, smooth.shape, dtype="u4")
    ds = xr.Dataset({"t": (("y", "x"), noisy.view("f4"))})
    report = ds.zio.to_zarr(tmp_path / "k.zarr", keepbits="auto")
    kept = xr.open_zarr(tmp_path / "k.zarr").t.attrs["quantization_nsb"]
    assert 3 <= kept <= 6
    assert f"keepbits={{'t': {kept}}}, information=0.99" in report.provenance.history[0].text


def test_a_copy_of_rounded_data_keeps_no_more_bits_than_they_have(
    tmp_path: Path, small: xr.Dataset
) -> None:
    small.zio.to_zarr(tmp_path / "a.zarr", keepbits=3)
    xzarrio.open_zarr(tmp_path / "a.zarr").zio.rechunk(tmp_path / "b.zarr", keepbits=9)
    assert xzarrio.info(tmp_path / "b.zarr")["temp"].keepbits == 3


def test_keepbits_names_a_variable_the_dataset_lacks(tmp_path: Path, small: xr.Dataset) -> None:
    with pytest.raises(InvalidArgumentError, match=r"keepbits names 'nope', which is not a var"):
        small.zio.to_zarr(tmp_path / "k.zarr", keepbits={"nope": 3})
    assert not (tmp_path / "k.zarr").exists()


def test_the_kept_bits_of_a_cf_variable_from_any_writer() -> None:
    """netCDF readers give attributes as numpy integers; a bool is no number of bits."""
    assert kept_bits_of({"quantization": "q", "quantization_nsb": np.int32(5)}) == 5
    assert kept_bits_of({"quantization": "q", "quantization_nsb": 7}) == 7
    assert kept_bits_of({"quantization_nsb": 7}) is None  # no container named: not CF's
    assert kept_bits_of({"quantization": "q", "quantization_nsb": True}) is None
    assert kept_bits_of({"quantization": "q", "quantization_nsd": 3}) is None  # digits


def test_mantissa_bits_per_width() -> None:
    assert {np.dtype(d).itemsize: np.finfo(d).nmant for d in DTYPES} == MANTISSA_BITS


def test_auto_keeps_every_bit_of_a_scalar(tmp_path: Path) -> None:
    """A scalar has no neighbours: no information is measured, so no bit is dropped."""
    ds = xr.Dataset({"t": ("x", np.linspace(0, 1, 50, dtype="f4")), "s": np.float32(1.2345)})
    ds.zio.to_zarr(tmp_path / "k.zarr", keepbits="auto")
    assert xr.open_zarr(tmp_path / "k.zarr").s.attrs["quantization_nsb"] == 23
