"""The bitwise real information, checked on fields whose information is known."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xzarrio  # noqa: F401  (the accessor)
from xzarrio.errors import InvalidArgumentError
from xzarrio.information import bit_labels, keepbits_for
from xzarrio.rounding import bitround
from xzarrio.samples import climate_fields, correlated_field


def _smooth_plus_noise_bits(kept: int, shape: tuple[int, int] = (400, 600)) -> xr.Dataset:
    """A smooth field rounded to *kept* mantissa bits, the other bits then made random:
    those carry no information, by construction."""
    rng = np.random.default_rng(7)
    smooth = bitround((280 + 15 * correlated_field(shape, rng, slope=4)).astype("f4"), kept)
    random = rng.integers(0, 2 ** (23 - kept), shape, dtype="u4")
    return xr.Dataset({"t": (("y", "x"), (smooth.view("u4") | random).view("f4"))})


@pytest.mark.parametrize("kept", [4, 8, 12])
def test_random_mantissa_bits_carry_no_information(kept: int) -> None:
    info = _smooth_plus_noise_bits(kept).zio.bitinformation().t
    labels = bit_labels("f4")
    noise = [f"m{i}" for i in range(kept + 1, 24)]
    assert info.sel(bit_float32=noise).sum() == 0
    assert info.sel(bit_float32=f"m{kept // 2}") > 0
    assert list(info.bit_float32.values) == labels
    assert 1 <= keepbits_for(info.values, "f4", 0.99) <= kept
    assert keepbits_for(info.values, "f4", 1.0) <= kept


def test_white_noise_keeps_every_bit() -> None:
    """Noise tells nothing about its neighbour: no bit is significant, and a variable
    with no measured information keeps all its bits rather than none."""
    noise = np.random.default_rng(0).normal(2000, 1000, (300, 300)).astype("f4")
    info = xr.Dataset({"n": (("y", "x"), noise)}).zio.bitinformation().n
    assert float(info.sel(bit_float32=[f"m{i}" for i in range(3, 24)]).sum()) == 0
    assert keepbits_for(np.zeros(32), "f4", 0.99) == 23


def test_along_one_dimension_or_the_largest_of_each() -> None:
    ds = climate_fields(3, 60, 90)
    both = ds.zio.bitinformation()
    along_lon = ds.zio.bitinformation("lon")
    assert along_lon.tas.attrs["dims"] == ["lon"]
    assert both.tas.attrs["dims"] == ["time", "lat", "lon"]
    assert (both.tas >= along_lon.tas).all()
    assert set(both.data_vars) == {"tas", "huss", "pr"}


def test_zeros_and_nan_are_left_out_of_the_pairs() -> None:
    """Precipitation is zero on most points; pairs of zeros share every bit and would
    make every bit look informative."""
    pr = climate_fields(3, 60, 90).pr
    info = pr.to_dataset().zio.bitinformation().pr
    assert float(info.sel(bit_float32="m23")) == 0
    with_nan = pr.where(pr > 0)
    assert with_nan.to_dataset().zio.bitinformation().pr.identical(info)


def test_a_sample_is_whole_chunks_seeded_and_bounded() -> None:
    ds = climate_fields(8, 60, 90).chunk({"time": 1})
    first = ds.zio.bitinformation(sample=60 * 90 * 2)
    again = ds.zio.bitinformation(sample=60 * 90 * 2)
    xr.testing.assert_identical(first, again)
    assert first.tas.attrs["pairs"] < ds.zio.bitinformation().tas.attrs["pairs"]


def test_float64_and_a_dataarray() -> None:
    da = climate_fields(2, 30, 40).tas.astype("f8")
    info = da.zio.bitinformation()
    assert info.tas.dims == ("bit_float64",) and info.tas.size == 64


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ds: ds.astype("i4").zio.bitinformation(), r"measures floating-point variables"),
        (lambda ds: ds.zio.bitinformation("depth"), r"dim='depth' is not a dimension"),
        (lambda ds: ds.zio.bitinformation(sample="all"), r"sample must be a number of values"),
    ],
    ids=["no-float", "no-such-dim", "sample-not-a-number"],
)
def test_refused(call: object, message: str) -> None:
    ds = climate_fields(2, 30, 40)
    with pytest.raises(InvalidArgumentError, match=message):
        call(ds)  # type: ignore[operator]
