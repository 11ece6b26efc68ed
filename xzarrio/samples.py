"""Generated fields with the structure of real climate model output.

Nothing can be downloaded where xzarrio's tests and benchmarks run, so the
codec measurements, the bit information checks and the docs' figures use
fields made here: random fields with the power-law spectrum of atmospheric
fields (large-scale patterns carrying most of the variance, weather-scale
detail on top), correlated from one time step to the next, and cast to the
value ranges, units and zeros of three familiar variables.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["climate_fields", "correlated_field"]


def correlated_field(
    shape: tuple[int, int], rng: np.random.Generator, *, slope: float = 3.0
) -> np.ndarray:
    """A zero-mean, unit-variance random field whose power falls as wavenumber**-*slope*.

    A *slope* of 3 is the spectrum of the large-scale atmosphere (Nastrom and
    Gage, 1985); white noise has 0.
    """
    rows, cols = shape
    ky = np.fft.fftfreq(rows)[:, None]
    kx = np.fft.rfftfreq(cols)[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = np.inf  # no mean
    amplitude = k ** (-slope / 2.0)
    noise = rng.standard_normal((rows, kx.shape[1])) + 1j * rng.standard_normal((rows, kx.shape[1]))
    field = np.fft.irfft2(noise * amplitude, s=shape)
    field -= field.mean()
    field /= field.std()
    return field


def _steps(
    nt: int, shape: tuple[int, int], rng: np.random.Generator, persistence: float
) -> np.ndarray:
    """*nt* correlated fields, each step an AR(1) continuation of the last."""
    out = np.empty((nt, *shape))
    out[0] = correlated_field(shape, rng)
    fresh = np.sqrt(1.0 - persistence**2)
    for t in range(1, nt):
        out[t] = persistence * out[t - 1] + fresh * correlated_field(shape, rng)
    return out


def climate_fields(nt: int = 4, ny: int = 180, nx: int = 360, *, seed: int = 0) -> xr.Dataset:
    """Daily fields of a temperature-, a humidity- and a precipitation-like variable.

    ``tas`` (K): a pole-to-equator gradient of about 50 K plus weather of a few
    kelvin. ``huss`` (kg/kg): the saturation humidity of ``tas`` times a
    relative humidity between 0 and 1; it spans three orders of magnitude.
    ``pr`` (kg m-2 s-1): zero on about 60 % of the points, skewed where it
    rains. All float32 on a regular latitude/longitude grid, one step a day.

    Examples
    --------
    >>> ds = climate_fields(2, 90, 180)
    >>> sorted(ds.data_vars), ds.tas.dtype.name, ds.sizes["lat"]
    (['huss', 'pr', 'tas'], 'float32', 90)
    >>> bool((ds.pr == 0).mean() > 0.5)
    True
    """
    rng = np.random.default_rng(seed)
    lat = np.linspace(-90 + 90 / ny, 90 - 90 / ny, ny)
    lon = np.arange(nx) * (360.0 / nx)
    coslat = np.cos(np.deg2rad(lat))[None, :, None]
    weather = _steps(nt, (ny, nx), rng, persistence=0.8)
    tas = 248.0 + 50.0 * coslat**2 + 4.0 * weather
    relative = 1.0 / (1.0 + np.exp(-1.5 * _steps(nt, (ny, nx), rng, persistence=0.7)))
    huss = 3.8e-3 * np.exp(0.0687 * (tas - 273.15)) * relative
    wet = _steps(nt, (ny, nx), rng, persistence=0.5) - 0.25
    pr = np.where(wet > 0, 2.0e-4 * wet**2 * (0.5 + relative), 0.0)
    dims = ("time", "lat", "lon")
    days = np.datetime64("2000-01-01", "ns") + np.arange(nt) * np.timedelta64(1, "D")
    return xr.Dataset(
        {
            "tas": (dims, tas.astype("f4"), _cf("K", "air_temperature")),
            "huss": (dims, huss.astype("f4"), _cf("1", "specific_humidity")),
            "pr": (dims, pr.astype("f4"), _cf("kg m-2 s-1", "precipitation_flux")),
        },
        coords={
            "time": ("time", days),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
        attrs={"title": "climate-like fields made by xzarrio.samples"},
    )


def _cf(units: str, standard_name: str) -> dict[str, str]:
    return {"units": units, "standard_name": standard_name}
