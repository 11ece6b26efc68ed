"""Bit rounding: mantissas kept to the bits that carry information, recorded as CF 1.12 says.

Model output stores 23 mantissa bits of float32 where a few carry real
information; the rest is noise that no lossless codec shrinks. Rounding them
away (round to nearest, ties to even, as numcodecs' ``BitRound`` does) before
the codec leaves long runs of zero bits that it does shrink. The rounding is
done on the data before encoding, so no rounding codec goes into the store's
metadata and every zarr reader opens the store; what was kept is recorded in
the CF 1.12 quantization attributes (section 8.4): ``quantization_nsb`` and
``quantization`` on the variable, naming a container variable whose
``algorithm`` is ``"bitround"``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from .errors import InvalidArgumentError

__all__ = [
    "CONTAINER", "MANTISSA_BITS", "UNSIGNED", "bitround", "check_keepbits",
    "check_keepbits_argument", "kept_bits_of", "kept_in_store", "quantization_container",
    "quantized", "requested_bits",
]  # fmt: skip

#: explicit mantissa bits of each floating-point width, by item size
MANTISSA_BITS: dict[int, int] = {2: 10, 4: 23, 8: 52}
#: the name of the CF quantization container variable xzarrio writes
CONTAINER = "quantization_info"
#: the unsigned integer of the same width as each float, by item size: its bits
UNSIGNED: dict[int, type[np.unsignedinteger[Any]]] = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def bitround(values: np.ndarray, keepbits: int, fill: Any = None) -> np.ndarray:
    """*values* with their mantissas rounded to *keepbits* bits, a new array.

    Round to nearest, ties to even, on the bits: the error of each value is at
    most half a unit in its last kept bit. NaN and infinities are kept as they
    are (a carry would turn a NaN into another number), and so is the *fill*
    value, which marks missing values; a value that would round up past the
    largest finite number is rounded down instead.

    Examples
    --------
    >>> bitround(np.array([1.0, 1.1, 1.25, 1.75, 3.3e38], dtype="f4"), 1)
    array([1.0000000e+00, 1.0000000e+00, 1.0000000e+00, 2.0000000e+00,
           2.5521178e+38], dtype=float32)
    """
    dropped = MANTISSA_BITS[values.dtype.itemsize] - keepbits
    out = np.array(values, copy=True)
    if dropped <= 0 or out.size == 0:
        return out
    kind = UNSIGNED[values.dtype.itemsize]
    bits = out.view(kind)
    one = kind(1)
    kept_mask = ~kind((1 << dropped) - 1)
    bits += ((bits >> kind(dropped)) & one) + kind((1 << (dropped - 1)) - 1)
    bits &= kept_mask
    if fill is not None and not np.isnan(fill):
        missing = values == fill
        out[missing] = values[missing]
    off = ~np.isfinite(out)
    if off.any():
        finite = np.isfinite(values)
        out[off & ~finite] = values[off & ~finite]
        overflowed = off & finite
        out.view(kind)[overflowed] = values[overflowed].view(kind) & kept_mask
    return out


def quantized(
    var: xr.Variable, keepbits: int, encoding: Mapping[str, Any] | None = None
) -> xr.Variable:
    """*var* with its data rounded to *keepbits* mantissa bits (lazily, block by block,
    where they are dask data) and the CF attributes that say so; its fill value (from
    the *encoding* it is written with, its own, or its attributes) stays as it is."""
    fill = _fill_value(encoding or {}, var.encoding, var.attrs)
    rounded: xr.Variable = xr.apply_ufunc(
        bitround, var, kwargs={"keepbits": keepbits, "fill": fill},
        dask="parallelized", output_dtypes=[var.dtype], keep_attrs=True,
    )  # fmt: skip
    rounded.attrs.update(quantization=CONTAINER, quantization_nsb=keepbits)
    return rounded


def _fill_value(*places: Mapping[str, Any]) -> Any:
    """The value that marks missing data, from the first of *places* that names one."""
    for where in places:
        for key in ("_FillValue", "missing_value"):
            value = where.get(key)
            if value is not None and np.ndim(value) == 0:
                return value
    return None


def quantization_container() -> xr.Variable:
    """The CF container variable that names the algorithm and who applied it."""
    version = importlib.metadata.version("xzarrio")
    return xr.Variable(
        (),
        np.int8(0),
        {"algorithm": "bitround", "implementation": f"xzarrio version {version}"},
    )


def check_keepbits_argument(keepbits: Any, information: Any) -> None:
    """Refuse a ``keepbits=`` or ``information=`` of the wrong kind."""
    if not (
        keepbits is None
        or keepbits == "auto"
        or isinstance(keepbits, Mapping)
        or (isinstance(keepbits, int | np.integer) and not isinstance(keepbits, bool))
    ):
        raise InvalidArgumentError(
            f"keepbits must be an int (mantissa bits of every floating-point data "
            f"variable), a dict {{name: int}} or 'auto', got {keepbits!r}"
        )
    if (
        isinstance(information, bool)
        or not isinstance(information, float | int)
        or not (0 < information <= 1)
    ):
        raise InvalidArgumentError(
            f"information must be the share of the real information to keep, above 0 "
            f"and at most 1 (such as 0.99), got {information!r}"
        )


def requested_bits(
    ds: xr.Dataset, keepbits: Any, existing: xr.Dataset | None = None
) -> dict[Hashable, Any]:
    """The kept bits asked of each variable of *ds* new to the store (*existing*): an
    int asks it of every such floating-point data variable, a dict of the variables it
    names; ``"auto"`` stays ``"auto"`` until the information is measured."""
    if keepbits is None:
        return {}
    held = existing.variables if existing is not None else {}
    if isinstance(keepbits, Mapping):
        taken = [name for name in keepbits if name in held]
        if taken:
            raise InvalidArgumentError(
                f"keepbits names {taken[0]!r}, which the store holds: a write keeps the "
                "bits the store's variables have; leave it out of keepbits"
            )
        return dict(keepbits)
    floating = [n for n, v in ds.data_vars.items() if v.dtype.kind == "f" and n not in held]
    if not floating:
        raise InvalidArgumentError(
            f"keepbits={keepbits!r} rounds the floating-point data variables a write adds "
            f"to the store, and this one adds none (its data variables: {list(ds.data_vars)})"
        )
    return dict.fromkeys(floating, keepbits)


def check_keepbits(
    ds: xr.Dataset, asked: Mapping[Hashable, Any], encoding: Mapping[Hashable, Any] | None = None
) -> None:
    """Refuse kept bits that the variables cannot take (as they are stored: *encoding*
    may pack them into integers), before anything is written."""
    for name, bits in asked.items():
        if name not in ds.variables:
            raise InvalidArgumentError(
                f"keepbits names {name!r}, which is not a variable of the Dataset "
                f"(its variables: {list(ds.variables)})"
            )
        var = ds.variables[name]
        given = (encoding or {}).get(name) or {}
        stored = np.dtype(given.get("dtype", var.encoding.get("dtype", var.dtype)))
        if var.dtype.kind != "f" or stored.kind != "f":
            what = f"{var.dtype}" if var.dtype.kind != "f" else f"{var.dtype} stored as {stored}"
            raise InvalidArgumentError(
                f"keepbits rounds floating-point variables; {name!r} is {what}: leave it out "
                "of keepbits"
            )
        if name in ds.indexes:
            raise InvalidArgumentError(
                f"keepbits would round the coordinate {name!r}, an index: its values label "
                "the data and must stay exact; leave it out of keepbits"
            )
        _check_bits(name, bits, MANTISSA_BITS[stored.itemsize])


def _check_bits(name: Hashable, bits: Any, most: int) -> None:
    if bits == "auto":
        return
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= bits <= most:
        raise InvalidArgumentError(
            f"keepbits for {name!r} must be an integer from 1 to {most} (its mantissa "
            f"bits; CF 1.12 and netCDF keep at least one) or 'auto', got {bits!r}"
        )


def kept_bits_of(attrs: Mapping[str, Any]) -> int | None:
    """The mantissa bits a variable with these attributes keeps, None if it is not rounded
    (by xzarrio or another bit-rounding writer that follows CF 1.12)."""
    nsb = attrs.get("quantization_nsb")
    if attrs.get("quantization") is None or isinstance(nsb, bool):
        return None
    return int(nsb) if isinstance(nsb, int | np.integer) else None


def kept_in_store(existing: xr.Dataset, names: Any) -> dict[Hashable, int]:
    """The kept bits the store records for the variables *names* (those it rounds)."""
    kept = {}
    for name in names:
        var = existing.variables.get(name)
        bits = kept_bits_of(var.attrs) if var is not None else None
        if bits is not None:
            kept[name] = bits
    return kept
