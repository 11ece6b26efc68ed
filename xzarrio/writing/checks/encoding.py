"""Checks of a user's ``encoding=``: zarr's keys, codecs, and xarray's CF encoding.

Each check raises an :mod:`xzarrio.errors` error that names what was
expected, before anything is written.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import xarray as xr
from numcodecs.abc import Codec as NumcodecsCodec
from xarray.coding import times
from zarr.abc.codec import Codec as ZarrCodec

from ...chunks import is_int
from ...codecs import resolve_compressors
from ...errors import (
    ArgumentTypeError,
    ChunkSizeTypeError,
    CodecFormatError,
    InvalidArgumentError,
    InvalidChunksError,
    OutOfRangeError,
)
from ...seams import ChunkKeyEncoding
from .arguments import check_flag

__all__ = ["check_encoding", "check_fits_store", "stored_unit"]

_ENCODING_KEYS = {
    # how zarr stores the array
    "chunks", "shards", "compressors", "compressor", "filters", "serializer",
    "write_empty_chunks", "chunk_key_encoding",
    # how xarray encodes the values (CF conventions)
    "dtype", "_FillValue", "missing_value", "scale_factor", "add_offset", "units", "calendar",
}  # fmt: skip


def check_encoding(
    ds: xr.Dataset, encoding: Any, existing: set[Hashable], fmt: int
) -> dict[Hashable, dict[str, Any]]:
    """Check a user's ``encoding=`` and return it with codecs fitted to *fmt*."""
    _check_encoding_attrs(ds, encoding if isinstance(encoding, Mapping) else {}, existing)
    if encoding is None:
        return {}
    if not isinstance(encoding, Mapping):
        raise InvalidArgumentError(f"encoding must be a dict {{variable: dict}}, got {encoding!r}")
    unknown = [name for name in encoding if name not in ds.variables]
    if unknown:
        raise InvalidArgumentError(
            f"encoding names variables {unknown} that the object does not have; "
            f"it has {list(ds.variables)}"
        )
    valid = _ENCODING_KEYS | ({"fill_value"} if fmt == 3 else set())
    checked: dict[Hashable, dict[str, Any]] = {}
    for name, enc in encoding.items():
        if not isinstance(enc, Mapping):
            raise InvalidArgumentError(
                f"encoding for variable {name!r} must be a dict, got {enc!r}"
            )
        if name in existing and enc:
            raise InvalidArgumentError(
                f"variable {name!r} already exists in the store; its encoding cannot change "
                "(leave it out of encoding=)"
            )
        for key in enc:
            if key not in valid:
                raise InvalidArgumentError(
                    f"unknown encoding key {key!r} for variable {name!r}; expected some of "
                    f"{sorted(valid)}"
                )
        checked[name] = _check_variable_encoding(name, dict(enc), ds.variables[name], fmt)
    return checked


#: the CF keys xarray takes from encoding into the attributes it writes
_CF_KEYS = ("_FillValue", "missing_value", "scale_factor", "add_offset", "units", "calendar")


def _check_encoding_attrs(
    ds: xr.Dataset, encoding: Mapping[Any, Any], existing: set[Hashable]
) -> None:
    """Refuse a CF encoding key in a variable's attributes that its encoding also sets.

    xarray raises its own ``ValueError`` for both (``Key ... already exists in
    attrs``) while it writes: for a key also in ``encoding=``, and for a
    ``_FillValue`` of a variable the store has, whose fill value is kept.
    """
    for name, var in ds.variables.items():
        if "_FillValue" in var.attrs and name in existing:
            raise InvalidArgumentError(
                f"variable {name!r} has _FillValue {var.attrs['_FillValue']!r} in its "
                f"attributes, but the store already holds {name!r} with the fill value it "
                "keeps; drop the attribute first: "
                f"ds[{name!r}].attrs.pop('_FillValue')"
            )
        timed = [k for k in ("units", "calendar") if k in var.attrs]
        if timed and (var.dtype.kind in "Mm" or (var.chunks is None and _holds_times(var))):
            raise InvalidArgumentError(
                f"variable {name!r} holds times and has {timed[0]!r} "
                f"{var.attrs[timed[0]]!r} in its attributes, where xarray writes the units "
                "it encodes them in; give it in encoding= instead: "
                f"encoding={{{name!r}: {{{timed[0]!r}: {var.attrs[timed[0]]!r}}}}}"
            )
        given = encoding.get(name)
        both = [k for k in _CF_KEYS if k in var.attrs and isinstance(given, Mapping) and k in given]
        if both:
            assert isinstance(given, Mapping)
            raise InvalidArgumentError(
                f"variable {name!r} has {both[0]!r} both in its attributes "
                f"({var.attrs[both[0]]!r}) and in encoding= ({given[both[0]]!r}); xarray "
                f"takes it from one place only: drop one, e.g. ds[{name!r}].attrs.pop("
                f"{both[0]!r})"
            )


def _check_variable_encoding(
    name: Hashable, enc: dict[str, Any], var: xr.Variable, fmt: int
) -> dict[str, Any]:
    """One variable's encoding, checked, with its codecs fitted to *fmt*."""
    if "chunks" in enc:
        enc["chunks"] = _encoding_chunks(name, enc["chunks"], var.ndim)
    _check_codec_keys(name, enc, var)
    if "compressor" in enc and "compressors" in enc:
        raise InvalidArgumentError(
            f"encoding for variable {name!r} has both 'compressor' ({enc['compressor']!r}) and "
            f"'compressors' ({enc['compressors']!r}), which contradict each other; keep one"
        )
    if "compressor" in enc:
        enc["compressors"] = resolve_compressors(enc.pop("compressor"), fmt, var.dtype)
    elif "compressors" in enc:
        given = enc["compressors"]
        # one name or codec is a list of one, not a string to take letter by letter
        given = given if isinstance(given, list | tuple) or given is None else [given]
        enc["compressors"] = tuple(
            c for codec in given or () for c in resolve_compressors(codec, fmt, var.dtype)
        )
    _check_cf_encoding(name, enc, var)
    return enc


def _check_codec_keys(name: Hashable, enc: dict[str, Any], var: xr.Variable) -> None:
    """The zarr keys other than chunks and compressors: their types, and shards vs chunks."""
    filters = enc.get("filters")
    if filters is not None and (
        not isinstance(filters, list | tuple) or not all(_is_codec_like(f) for f in filters)
    ):
        raise CodecFormatError(
            f"encoding['filters'] for variable {name!r} must be a list of codec objects, "
            f"got {filters!r}"
        )
    serializer = enc.get("serializer")
    if serializer is not None and serializer != "auto" and not _is_codec_like(serializer):
        raise CodecFormatError(
            f"encoding['serializer'] for variable {name!r} must be a codec object, "
            f"got {serializer!r}"
        )
    if enc.get("shards") is not None:
        _check_shards(name, enc["shards"], enc.get("chunks"), var.ndim)
    keys = enc.get("chunk_key_encoding")
    if keys is not None and not isinstance(keys, Mapping | ChunkKeyEncoding):
        raise ArgumentTypeError(
            f"encoding['chunk_key_encoding'] for variable {name!r} must be a dict such as "
            f"{{'name': 'default', 'separator': '/'}}, got {keys!r}"
        )
    if enc.get("write_empty_chunks") is not None:
        check_flag("encoding['write_empty_chunks']", enc["write_empty_chunks"])


def _is_codec_like(value: Any) -> bool:
    """A codec object of zarr 3 or numcodecs, or its JSON form (a dict with a name)."""
    return isinstance(value, ZarrCodec | NumcodecsCodec) or (
        isinstance(value, Mapping) and ("name" in value or "id" in value)
    )


def _check_shards(name: Hashable, shards: Any, chunks: tuple[int, ...] | None, ndim: int) -> None:
    if not (is_int(shards) or (isinstance(shards, tuple | list) and all(map(is_int, shards)))):
        raise ChunkSizeTypeError(
            f"encoding['shards'] for variable {name!r} must be an int or a tuple of "
            f"{ndim} ints, got {shards!r}"
        )
    sizes = (shards,) * len(chunks) if chunks and is_int(shards) else shards
    fits = chunks is None or (
        len(sizes) == len(chunks) and not any(s % c for s, c in zip(sizes, chunks, strict=True))
    )
    if not fits:
        raise InvalidChunksError(
            f"encoding['shards'] for variable {name!r} is {shards!r}, which is not a multiple "
            f"of its chunks {chunks!r}; a shard holds whole chunks"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iufb"
    )


def _check_cf_encoding(name: Hashable, enc: dict[str, Any], var: xr.Variable) -> None:
    """dtype, scale_factor, add_offset and fill values: xarray's CF encoding, checked first."""
    target = var.dtype
    if "dtype" in enc:
        try:
            target = np.dtype(enc["dtype"])
        except TypeError:
            raise ArgumentTypeError(
                f"encoding['dtype'] for variable {name!r} is {enc['dtype']!r}, which is no "
                "numpy dtype; expected e.g. 'int16', 'float32' or np.dtype('i2')"
            ) from None
    numeric = target.kind in "iufcb" and var.dtype.kind in "iufcb"
    for key in ("scale_factor", "add_offset", "_FillValue", "missing_value"):
        if key in enc and enc[key] is not None and (numeric or key in _PACKING):
            if not _is_number(enc[key]):
                raise ArgumentTypeError(
                    f"encoding[{key!r}] for variable {name!r} must be a number, got {enc[key]!r}"
                )
    if target.kind in "iu" and var.dtype.kind in "iuf":
        _check_integer_encoding(name, enc, var, target)
    elif var.chunks is not None or var.size == 0:
        return  # dask data: reading it whole here would compute it twice
    elif target.kind in "iu" and _holds_times(var):
        _check_integer_times(name, enc, var, target)
    elif target.kind == "f" and var.dtype.kind in "iuf" and target.itemsize < 8:
        _check_float_encoding(name, enc, var, target)
    elif target.kind in "SU" and var.dtype.kind in "USOT":
        _check_string_width(name, var, target)


#: the keys that pack values: encoded = (value - add_offset) / scale_factor
_PACKING = ("scale_factor", "add_offset")


def _check_integer_encoding(
    name: Hashable, enc: dict[str, Any], var: xr.Variable, target: np.dtype[Any]
) -> None:
    """Refuse fill values and data that an integer dtype would wrap around or lose."""
    info = np.iinfo(target)
    for key in ("_FillValue", "missing_value"):
        fill = enc.get(key)
        if fill is not None and not (np.isfinite(fill) and info.min <= fill <= info.max):
            raise OutOfRangeError(
                f"encoding[{key!r}] for variable {name!r} is {fill!r}, outside {target} "
                f"({info.min} to {info.max}); choose a fill value that {target} holds"
            )
    if var.chunks is not None or var.size == 0:
        return  # dask data: reading it whole here would compute it twice
    nan_fix = (
        f"give a _FillValue for them in its encoding, e.g. {{'dtype': {str(target)!r}, "
        f"'_FillValue': {info.min}}}, or keep a floating dtype"
    )
    _check_integer_values(
        name, enc, var, target, nan_fix, "choose a wider dtype or a scale_factor and "
        "add_offset that fit them",
    )  # fmt: skip


def _check_integer_values(
    name: Hashable, enc: dict[str, Any], var: xr.Variable, target: np.dtype[Any],
    nan_fix: str, range_fix: str,
) -> None:  # fmt: skip
    """Refuse data that *target* would wrap around, and NaN where *enc* has no fill value."""
    info = np.iinfo(target)
    values = np.asarray(var.values, dtype="f8")
    if np.isnan(values).any() and enc.get("_FillValue", enc.get("missing_value")) is None:
        raise InvalidArgumentError(
            f"variable {name!r} holds NaN, which {target} cannot hold; {nan_fix}"
        )
    encoded = _packed(enc, var)
    low, high = np.nanmin(encoded, initial=np.inf), np.nanmax(encoded, initial=-np.inf)
    if np.isfinite(low) and (np.around(low) < info.min or np.around(high) > info.max):
        shown = "values" if _PACKING[0] not in enc and _PACKING[1] not in enc else "packed values"
        raise OutOfRangeError(
            f"variable {name!r} holds {shown} from {low:g} to {high:g}, outside {target} "
            f"({info.min} to {info.max}), which would wrap around; {range_fix}"
        )


def check_fits_store(ds: xr.Dataset, old: xr.Dataset) -> None:
    """Refuse data that the store's encoding of its variable would wrap around or lose.

    An append or a region write encodes the data as the store does (its dtype,
    scale_factor, add_offset and fill value), which the data cannot change.
    Data in dask is not read.
    """
    fix = "the store's encoding cannot change: clip or fill the data first, or write a new store"
    for name, var in ds.variables.items():
        if name not in old.variables or var.chunks is not None or var.size == 0:
            continue
        have = old.variables[name]
        stored = np.dtype(have.encoding.get("dtype", have.dtype))
        keys = ("_FillValue", "missing_value", *_PACKING)
        enc = {k: have.encoding[k] for k in keys if have.encoding.get(k) is not None}
        if var.dtype.kind not in "iuf" or (stored == var.dtype and not set(_PACKING) & set(enc)):
            continue
        if stored.kind in "iu":
            _check_integer_values(name, enc, var, stored, fix, fix)
        elif stored.kind == "f" and stored.itemsize < 8:
            _check_float_encoding(name, enc, var, stored, fix)


def _packed(enc: dict[str, Any], var: xr.Variable) -> np.ndarray[Any, np.dtype[np.float64]]:
    """*var*'s values as xarray packs them: ``(value - add_offset) / scale_factor``."""
    values = np.asarray(var.values, dtype="f8")
    return (values - float(enc.get("add_offset", 0))) / float(enc.get("scale_factor", 1))


def _check_float_encoding(
    name: Hashable, enc: dict[str, Any], var: xr.Variable, target: np.dtype[Any],
    fix: str = "choose a wider dtype (e.g. 'float64') or a scale_factor that fits them",
) -> None:  # fmt: skip
    """Refuse finite values that a narrower floating dtype would store as infinity."""
    encoded = _packed(enc, var)
    with np.errstate(over="ignore", invalid="ignore"):
        lost = np.isfinite(encoded) & np.isinf(encoded.astype(target))
    if lost.any():
        largest = np.abs(encoded[lost]).max()
        shown = "values" if _PACKING[0] not in enc and _PACKING[1] not in enc else "packed values"
        raise OutOfRangeError(
            f"variable {name!r} holds {shown} as large as {largest:g}, beyond the largest "
            f"{target} ({np.finfo(target).max:g}), which would be stored as inf; {fix}"
        )


def _holds_times(var: xr.Variable) -> bool:
    """Whether *var* holds numpy times or durations, or cftime dates."""
    if var.dtype.kind in "Mm":
        return True
    first = next((v for v in np.asarray(var.values).flat if v is not None), None)
    return var.dtype == object and hasattr(first, "calendar")


def _check_integer_times(
    name: Hashable, enc: dict[str, Any], var: xr.Variable, target: np.dtype[Any]
) -> None:
    """Refuse times whose numbers in their units an integer dtype would wrap around."""
    values = np.asarray(var.values).ravel()
    present = ~np.isnat(values) if var.dtype.kind in "Mm" else [v is not None for v in values]
    values = values[present]
    if not values.size:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if var.dtype.kind == "m":
                numbers, units = times.encode_cf_timedelta(values, enc.get("units"))
            else:
                numbers, units, _ = times.encode_cf_datetime(
                    values, enc.get("units"), enc.get("calendar")
                )
    except (ValueError, TypeError, OverflowError):
        return  # units xarray does not take: its own error stands
    info = np.iinfo(target)
    low, high = np.min(numbers), np.max(numbers)
    if low < info.min or high > info.max:
        raise OutOfRangeError(
            f"variable {name!r} holds times from {values.min()} to {values.max()}, which are "
            f"{low:g} to {high:g} {units!r}: outside {target} ({info.min} to {info.max}), "
            "which would wrap around; choose a wider dtype (e.g. 'int64') or coarser units"
        )


def _check_string_width(name: Hashable, var: xr.Variable, target: np.dtype[Any]) -> None:
    """Refuse strings that a fixed-width string dtype would cut short.

    ``S1`` is not a width: xarray stores strings as arrays of characters then.
    """
    width = target.itemsize // (4 if target.kind == "U" else 1)
    shown = f"{target.kind}{width}"
    if width == 0 or target == np.dtype("S1"):
        return  # any width, or characters
    items = [v for v in np.asarray(var.values).flat if isinstance(v, str | bytes)]
    try:
        lengths = [len(v.encode("ascii") if target.kind == "S" and isinstance(v, str) else v)
                   for v in items]  # fmt: skip
    except UnicodeEncodeError:
        raise InvalidArgumentError(
            f"variable {name!r} holds strings that are not ASCII, which encoding dtype "
            f"{shown!r} (bytes) cannot hold; leave 'dtype' out of its encoding (zarr stores "
            "unicode strings) or use a 'U' dtype"
        ) from None
    longest = max(lengths, default=0)
    if longest > width:
        raise InvalidArgumentError(
            f"variable {name!r} holds strings of up to {longest} characters, which encoding "
            f"dtype {shown!r} ({width} characters) would cut short; leave 'dtype' out of its "
            f"encoding (zarr stores strings of any length) or widen it to "
            f"{str(target.kind + str(longest))!r}"
        )


def _encoding_chunks(name: Hashable, chunks: Any, ndim: int) -> tuple[int, ...]:
    """``encoding["chunks"]`` as a tuple: an int means that size on every dimension."""
    if is_int(chunks):
        chunks = (chunks,) * ndim
    if not isinstance(chunks, tuple | list) or not all(is_int(c) for c in chunks):
        raise ChunkSizeTypeError(
            f"encoding['chunks'] for variable {name!r} must be an int or a tuple of "
            f"{ndim} ints, got {chunks!r}"
        )
    if len(chunks) != ndim or any(int(c) < 1 for c in chunks):
        raise InvalidChunksError(
            f"encoding['chunks'] for variable {name!r} must be {ndim} integers >= 1 "
            f"(-1 is not taken here), got {chunks!r}"
        )
    return tuple(int(c) for c in chunks)


def stored_unit(var: xr.Variable) -> tuple[int, ...] | None:
    """What one stored object of an existing variable spans: its shard, else its chunk."""
    unit = var.encoding.get("shards") or var.encoding.get("chunks")
    return tuple(int(c) for c in unit) if unit is not None and len(unit) == var.ndim else None
