"""Checks of a write's arguments against the object and what the store holds.

Each raises an :mod:`xzarrio.errors` error that names what was expected,
before anything is written.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numcodecs.abc import Codec as NumcodecsCodec
from zarr.abc.codec import Codec as ZarrCodec
from zarr.core.chunk_key_encodings import ChunkKeyEncoding

from ...chunks import is_int
from ...codecs import resolve_compressors
from ...errors import (
    AppendMismatchError,
    ArgumentTypeError,
    ChunkSizeTypeError,
    CodecFormatError,
    InvalidArgumentError,
    InvalidAttributeError,
    InvalidChunksError,
    NotStorableError,
    OutOfRangeError,
    RegionError,
    RegionKeyError,
    RegionTypeError,
    UnnamedDataArrayError,
)

__all__ = [
    "MODES",
    "as_dataset",
    "check_all_attrs",
    "check_append",
    "check_encoding",
    "check_flag",
    "check_group",
    "check_kept_layout",
    "check_mapping",
    "check_names",
    "check_optional_flag",
    "check_region",
    "check_storable",
    "fit_strings",
    "resolve_mode",
    "resolve_region",
    "stored_unit",
    "without_indexes",
]

MODES = ("w-", "w", "a", "a-", "r+")

#: the stored name of a variable named None, as xarray's backends store it
NONE_NAME = "__values__"


def as_dataset(obj: xr.Dataset | xr.DataArray) -> xr.Dataset:
    if isinstance(obj, xr.DataArray):
        if obj.name is None:
            raise UnnamedDataArrayError(
                "cannot write an unnamed DataArray: zarr stores variables by name; "
                "name it first, e.g. da.rename('temperature').zio.to_zarr(...)"
            )
        obj = obj.to_dataset()
    if None in obj.variables:
        # xarray's backends store a variable named None under this name and read it back as None
        obj = obj.rename({None: NONE_NAME})
    return obj


#: keys that mark a zarr group or array: a variable of that name would overwrite them
_RESERVED_NAMES = frozenset({"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"})


def check_names(ds: xr.Dataset) -> None:
    """Refuse names that zarr cannot store as one array of that name.

    As xarray: a name must be a string (``TypeError``; :func:`as_dataset`
    has stored None as xarray does), and not empty (``ValueError``). Beyond xarray: a
    ``/`` would make the variable vanish into a group, ``.`` and ``..`` are
    no path, and zarr's metadata keys would be overwritten.
    """
    for name in list(ds.variables) + list(ds.dims):
        if not isinstance(name, str):
            raise ArgumentTypeError(
                f"variable and dimension names must be strings to be stored in zarr, "
                f"got {name!r} of type {type(name).__name__}; rename it first"
            )
        if name in ("", ".", "..") or "/" in name or name in _RESERVED_NAMES:
            raise InvalidArgumentError(
                f"the name {name!r} cannot be stored in zarr: a variable or dimension name "
                "must be a non-empty string without '/', not '.' or '..', and not one of "
                f"zarr's keys {sorted(_RESERVED_NAMES)}; rename it first"
            )


def check_storable(ds: xr.Dataset) -> None:
    """Refuse what zarr cannot hold: MultiIndex coordinates, objects of mixed types."""
    for name, index in ds.indexes.items():
        if isinstance(index, pd.MultiIndex) and name in ds.dims:
            raise NotStorableError(
                f"coordinate {name!r} is a pandas MultiIndex, which zarr cannot store; "
                f"reset it first: ds.reset_index({name!r})"
            )
    for name, var in ds.variables.items():
        if var.dtype != object or var.chunks is not None or var.size == 0:
            continue
        values = list(np.asarray(var.values).flat)
        kinds = list(dict.fromkeys(type(v).__name__ for v in values))
        if len({type(v) for v in values if not _missing(v)}) > 1:
            raise InvalidArgumentError(
                f"variable {name!r} holds Python objects of mixed types ({', '.join(kinds)}); "
                "zarr stores one type per variable: convert it first, e.g. .astype(str)"
            )


def _missing(value: Any) -> bool:
    """Whether one element of an object array is a missing value: None or NaN."""
    # xarray writes strings with NaN for the missing ones (as pandas makes them)
    return value is None or (isinstance(value, float) and np.isnan(value))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()] if value.ndim else _jsonable(value.item())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _check_attrs(attrs: Mapping[Any, Any], owner: str) -> None:
    for key, value in attrs.items():
        if not isinstance(key, str):
            raise InvalidAttributeError(
                f"attribute names must be strings; {owner} has attribute {key!r} "
                f"of type {type(key).__name__}"
            )
        try:
            json.dumps(_jsonable(value), allow_nan=False)
        except ValueError:
            raise InvalidAttributeError(
                f"attribute {key!r} of {owner} is {value!r}: zarr attributes are JSON, "
                "which has no NaN or infinity; store it as a string or drop it"
            ) from None
        except TypeError:
            raise InvalidAttributeError(
                f"attribute {key!r} of {owner} is {value!r} of type {type(value).__name__}, "
                "which cannot be stored as JSON; expected a str, number, bool, None, "
                "list, dict or numpy array"
            ) from None


def check_all_attrs(ds: xr.Dataset) -> None:
    _check_attrs(ds.attrs, "the Dataset")
    for name, var in ds.variables.items():
        _check_attrs(var.attrs, f"variable {name!r}")


def check_group(group: Any) -> str | None:
    """xarray's ``group=``: a path of names inside the store, or None for its root."""
    if group is None:
        return None
    if not isinstance(group, str):
        raise ArgumentTypeError(f"group must be a string (a path inside the store), got {group!r}")
    parts = group.strip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidArgumentError(
            f"group={group!r} is not a path of names inside the store (no '', '.' or '..')"
        )
    return "/".join(parts)


def check_flag(name: str, value: Any) -> bool:
    """*value* of the keyword *name*, which takes True or False only."""
    if not isinstance(value, bool | np.bool_):
        raise ArgumentTypeError(f"{name} takes True or False, got {value!r}")
    return bool(value)


def check_optional_flag(name: str, value: Any) -> bool | None:
    """*value* of the keyword *name*, which takes True, False or None (the default)."""
    return None if value is None else check_flag(name, value)


def check_mapping(name: str, value: Any, what: str) -> dict[str, Any]:
    """*value* of the keyword *name*, which takes a dict of *what* (or None: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{name} must be a dict of {what}, got {value!r}")
    return dict(value)


def resolve_mode(mode: Any, append_dim: Any, region: Any) -> str:
    if not isinstance(append_dim, Hashable):
        raise ArgumentTypeError(
            f"append_dim must be a dimension name, got {append_dim!r}; append along one "
            "dimension at a time"
        )
    if mode not in MODES:
        raise InvalidArgumentError(f"unknown mode {mode!r}; expected one of {list(MODES)}")
    if append_dim is not None and region is not None:
        # a KeyError too: xarray raises one for the same call (new labels are not in the store)
        raise RegionKeyError(
            "append_dim and region cannot be used together: append grows the store along "
            "append_dim, region overwrites a part of it; pick one"
        )
    if append_dim is not None:
        if mode not in ("w-", "a", "a-"):
            raise InvalidArgumentError(f"append_dim needs mode='a' or 'a-', got mode={mode!r}")
        return "a" if mode == "w-" else mode
    if region is not None:
        if mode not in ("w-", "r+", "a", "a-"):
            raise InvalidArgumentError(f"region needs mode='r+' (or 'a'), got mode={mode!r}")
        return "r+" if mode == "w-" else mode
    return mode


def check_kept_layout(chunks: Any, compressor: Any, operation: str) -> None:
    """Refuse ``chunks=`` and ``compressor=`` where the store's own are kept, not changed."""
    kept = (("chunks", chunks, "chunks"), ("compressor", compressor, "codecs"))
    for keyword, value, what in kept:
        if value is not None and not (isinstance(value, Mapping) and not value):
            raise InvalidArgumentError(
                f"{keyword}={value!r} cannot change an existing store's {what}: an {operation} "
                f"writes with the {what} the store has; leave {keyword}= out (or rewrite the "
                "store with rechunk)"
            )


def fit_strings(ds: xr.Dataset, old: xr.Dataset) -> xr.Dataset:
    """*ds* with fixed-width strings narrower than the store's widened to its width.

    xarray refuses any other width; :func:`check_append` has refused wider ones.
    """
    stored = {n: _stored_dtype(old.variables[n]) for n in ds.variables if n in old.variables}
    narrower = {
        name: var.astype(stored[name])
        for name, var in ds.variables.items()
        if name in stored
        and var.dtype.kind in "US"
        and var.dtype.kind == stored[name].kind
        and var.dtype != stored[name]
    }
    coords = {n: v for n, v in narrower.items() if n in ds.coords}
    data = {n: v for n, v in narrower.items() if n not in ds.coords}
    return ds.assign_coords(coords).assign(data)


def check_append(ds: xr.Dataset, old: xr.Dataset, append_dim: Hashable) -> None:
    if append_dim not in ds.dims:
        raise AppendMismatchError(
            f"cannot append along {append_dim!r}: the data has no such dimension; "
            f"its dimensions are {list(ds.dims)}"
        )
    if append_dim not in old.dims:
        raise AppendMismatchError(
            f"cannot append along {append_dim!r}: the store has no such dimension; "
            f"its dimensions are {list(old.dims)}"
        )
    new_along = [
        n for n, v in ds.variables.items() if n not in old.variables and append_dim in v.dims
    ]
    if new_along:
        raise AppendMismatchError(
            f"variable {new_along[0]!r} is not in the store; an append extends the store's "
            f"variables along {append_dim!r}, it cannot start new ones (add them first with "
            "mode='a' and no append_dim)"
        )
    left_out = sorted(
        str(n) for n, v in old.variables.items() if append_dim in v.dims and n not in ds.variables
    )
    if left_out:
        raise AppendMismatchError(
            f"the store's variables {left_out} run along {append_dim!r} but are missing from "
            "the data to append; an append must extend all of them, or the store's dimension "
            "sizes would disagree"
        )
    for name, var in ds.variables.items():
        if name not in old.variables:
            continue
        have = old.variables[name]
        if var.dims != have.dims:
            raise AppendMismatchError(
                f"cannot append variable {name!r}: its dimensions {var.dims} differ from "
                f"the store's {have.dims}"
            )
        # strings of any width, and times of any resolution, are stored alike
        same_kind = (var.dtype.kind in "USOT" and have.dtype.kind in "USOT") or (
            var.dtype.kind in "Mm" and var.dtype.kind == have.dtype.kind
        )
        if var.dtype != have.dtype and not same_kind:
            raise AppendMismatchError(
                f"cannot append variable {name!r}: its dtype {var.dtype} differs from "
                f"the store's {have.dtype}; cast it first, e.g. .astype({str(have.dtype)!r})"
            )
        for dim in var.dims:
            if dim != append_dim and var.sizes[dim] != have.sizes[dim]:
                raise AppendMismatchError(
                    f"cannot append variable {name!r}: dimension {dim!r} has size "
                    f"{var.sizes[dim]}, the store's has {have.sizes[dim]}"
                )
        if append_dim in var.dims:
            _check_appended_meaning(name, var, have)
        elif name in ds.coords:
            _check_same_coordinate(name, var, have)
    _check_append_index(ds, old, append_dim)


def _check_same_coordinate(name: Hashable, var: xr.Variable, have: xr.Variable) -> None:
    """A coordinate that is not appended labels old and new data alike: the same values.

    Dask data is not compared: that would compute it once more than the write does.
    """
    if var.chunks is None and not var.equals(have):
        raise AppendMismatchError(
            f"cannot append: coordinate {name!r} differs from the store's; the appended "
            f"data would be labelled with the store's {name!r} values, not its own "
            f"(select the store's: data.sel({name}=store[{name!r}].values))"
        )


def _check_appended_meaning(name: Hashable, var: xr.Variable, have: xr.Variable) -> None:
    """What the store says about values it holds must hold for the appended ones too."""
    units, stored = var.attrs.get("units"), have.attrs.get("units")
    if units is not None and stored is not None and units != stored:
        raise AppendMismatchError(
            f"cannot append variable {name!r}: its units {units!r} differ from the store's "
            f"{stored!r}; convert the data to {stored!r} first"
        )
    if var.dtype.kind in "Mm" and var.dtype.kind == have.dtype.kind:
        _check_time_encoding(name, var, have)
    if _stored_dtype(have).kind in "US":
        _check_string_width(name, var, _stored_dtype(have))


def _check_append_index(ds: xr.Dataset, old: xr.Dataset, append_dim: Hashable) -> None:
    """The appended values of the append dimension's index: each new, each once."""
    if append_dim not in ds.indexes or append_dim not in old.indexes:
        return
    new = ds.indexes[append_dim]
    if new.has_duplicates:
        raise AppendMismatchError(
            f"cannot append along {append_dim!r}: the data repeats the values "
            f"{new[new.duplicated()].unique().tolist()}; an index that repeats a value "
            "selects two places with one label"
        )
    both = old.indexes[append_dim].intersection(new)
    if len(both):
        raise AppendMismatchError(
            f"cannot append along {append_dim!r}: the store already holds the values "
            f"{both.tolist()}; append only what comes after (write over stored values "
            "with region='auto')"
        )


#: CF time units, as numpy's timedelta units
_TIME_UNITS = {
    "days": "D", "day": "D", "d": "D", "hours": "h", "hour": "h", "h": "h",
    "minutes": "m", "minute": "m", "min": "m", "seconds": "s", "second": "s", "s": "s",
    "milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns",
}  # fmt: skip


def _parse_time_units(units: Any) -> tuple[str, pd.Timestamp | None] | None:
    """``"days since 2000-01-01"`` as ``("D", Timestamp)``; None where it is not understood."""
    if not isinstance(units, str):
        return None
    unit, _, since = units.strip().partition(" since ")
    code = _TIME_UNITS.get(unit.strip().lower())
    if code is None:
        return None
    try:
        ref = pd.Timestamp(since.strip()) if since else None
    except ValueError:
        return None
    return code, (ref.tz_convert(None) if ref is not None and ref.tz is not None else ref)


#: calendars under other names (CF): each name → the one it stands for
_CALENDAR_ALIASES = {
    "gregorian": "standard", "proleptic_gregorian": "standard", "365_day": "noleap",
    "366_day": "all_leap",
}  # fmt: skip


def _same_calendar(mine: Any, theirs: Any) -> bool:
    mine, theirs = (str(c).lower() for c in (mine, theirs))
    return _CALENDAR_ALIASES.get(mine, mine) == _CALENDAR_ALIASES.get(theirs, theirs)


def _check_time_encoding(name: Hashable, var: xr.Variable, have: xr.Variable) -> None:
    """Appended times: the store's calendar, and values its units can hold exactly.

    Other units are fine (xarray encodes an append in the store's units, a file
    of each month its own "hours since" the month's start); another calendar is not.
    """
    mine, theirs = var.encoding.get("calendar"), have.encoding.get("calendar")
    if mine is not None and theirs is not None and not _same_calendar(mine, theirs):
        raise AppendMismatchError(
            f"cannot append variable {name!r}: its encoding says calendar {mine!r} but the "
            f"store's is {theirs!r}, which the appended values are stored in; convert the "
            f"data to the store's calendar (ds.convert_calendar({theirs!r}))"
        )
    _check_times_fit(name, var, have)


def _check_times_fit(name: Hashable, var: xr.Variable, have: xr.Variable) -> None:
    """Refuse times that the store's integer units cannot hold exactly.

    xarray then stores them in finer units than the store's attributes say,
    so they read back wrong. Only data in memory is checked: computing dask
    data here would read it twice.
    """
    parsed = _parse_time_units(have.encoding.get("units"))
    stored = np.dtype(have.encoding.get("dtype", "f8"))
    if parsed is None or stored.kind not in "iu" or var.chunks is not None:
        return
    code, ref = parsed
    values = np.asarray(var.values)
    values = values[~np.isnat(values)]
    offsets = values - ref.to_datetime64() if var.dtype.kind == "M" and ref is not None else values
    step = np.timedelta64(1, code)  # type: ignore[call-overload]  # code is a str of _TIME_UNITS
    if (offsets % step != np.timedelta64(0)).any():
        units = have.encoding["units"]
        raise AppendMismatchError(
            f"cannot append variable {name!r}: the store holds whole {units!r} as integers, "
            f"and the appended times are not whole {units.split()[0]}; round them first "
            "(e.g. .dt.floor), or write a store with finer units"
        )


def _stored_dtype(have: xr.Variable) -> np.dtype[Any]:
    """The dtype of a stored variable's array, even once its values were loaded.

    xarray may load fixed-width strings narrower than they are stored (an
    empty string as ``<U1``); the encoding keeps the store's dtype.
    """
    return np.dtype(have.encoding.get("dtype", have.dtype))


def _check_string_width(name: Hashable, var: xr.Variable, stored: np.dtype[Any]) -> None:
    """Refuse strings wider than a fixed-width stored string, which zarr would cut short."""
    width = stored.itemsize // (4 if stored.kind == "U" else 1)
    if var.dtype.kind in "US":
        longest = var.dtype.itemsize // (4 if var.dtype.kind == "U" else 1)
    elif var.chunks is None and var.size:
        # object or numpy StringDType strings in memory: their longest (dask data is not read)
        lengths = [len(v) for v in np.asarray(var.values).flat if isinstance(v, str | bytes)]
        longest = max(lengths, default=0)
    else:
        return
    if longest > width:
        raise AppendMismatchError(
            f"cannot append variable {name!r}: the store holds strings of at most {width} "
            f"characters ({stored}) and the data has strings of {longest}, which would be "
            "cut short; write a new store with wider or variable-length strings"
        )


def check_region(ds: xr.Dataset, old: xr.Dataset, region: Any) -> None:
    """Check a region that :func:`resolve_region` has turned into slices."""
    if not isinstance(region, Mapping):
        raise RegionTypeError(f"region must be 'auto' or a dict {{dim: slice}}, got {region!r}")
    for dim, where in region.items():
        if dim not in old.dims:
            raise RegionError(
                f"region names dimension {dim!r}, which the store does not have; "
                f"it has {list(old.dims)}"
            )
        _check_region_slice(dim, where)
        start, stop, _ = where.indices(old.sizes[dim])
        if (
            (where.start or 0) < 0
            or (where.stop is not None and where.stop > old.sizes[dim])
            or start > stop
        ):
            raise RegionError(
                f"region[{dim!r}] = {where!r} is outside the store's dimension of size "
                f"{old.sizes[dim]}"
            )
        if dim in ds.dims and ds.sizes[dim] != stop - start:
            raise RegionError(
                f"region[{dim!r}] = {where!r} covers {stop - start} elements but the data "
                f"has {ds.sizes[dim]} along {dim!r}"
            )


def _check_region_slice(dim: Hashable, where: Any) -> None:
    """One value of a region: a slice of integer positions with step 1, as xarray takes."""
    if not isinstance(where, slice) or not all(
        end is None or is_int(end) for end in (where.start, where.stop)
    ):
        raise RegionTypeError(
            f"region[{dim!r}] must be a slice of integer positions (or 'auto'), got {where!r}; "
            "to place data by its coordinate labels, use region='auto'"
        )
    if where.step not in (None, 1):
        raise RegionError(f"region[{dim!r}] must be a slice with step 1 or 'auto', got {where!r}")


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
        enc["compressors"] = resolve_compressors(enc.pop("compressor"), fmt)
    elif "compressors" in enc:
        given = enc["compressors"]
        # one name or codec is a list of one, not a string to take letter by letter
        given = given if isinstance(given, list | tuple) or given is None else [given]
        enc["compressors"] = tuple(
            c for codec in given or () for c in resolve_compressors(codec, fmt)
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
    values = np.asarray(var.values, dtype="f8")
    if np.isnan(values).any() and enc.get("_FillValue", enc.get("missing_value")) is None:
        raise InvalidArgumentError(
            f"variable {name!r} holds NaN, which {target} cannot hold; give a _FillValue "
            f"for them in its encoding, e.g. {{'dtype': {str(target)!r}, '_FillValue': "
            f"{info.min}}}, or keep a floating dtype"
        )
    encoded = (values - float(enc.get("add_offset", 0))) / float(enc.get("scale_factor", 1))
    low, high = np.nanmin(encoded, initial=np.inf), np.nanmax(encoded, initial=-np.inf)
    if np.isfinite(low) and (np.around(low) < info.min or np.around(high) > info.max):
        shown = "values" if _PACKING[0] not in enc and _PACKING[1] not in enc else "packed values"
        raise OutOfRangeError(
            f"variable {name!r} holds {shown} from {low:g} to {high:g}, outside {target} "
            f"({info.min} to {info.max}), which would wrap around; choose a wider dtype or "
            "a scale_factor and add_offset that fit them"
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


def resolve_region(ds: xr.Dataset, old: xr.Dataset, region: Any) -> Any:
    """``region`` with every ``"auto"`` turned into the slice its coordinates select."""
    if isinstance(region, str) and region == "auto":
        region = {dim: "auto" for dim in ds.dims}
    if not isinstance(region, Mapping):
        return region
    resolved: dict[Hashable, Any] = {}
    for dim, where in region.items():
        if not (isinstance(where, str) and where == "auto"):
            resolved[dim] = where
            continue
        if dim not in ds.indexes or dim not in old.indexes:
            if dim in old.dims and ds.sizes.get(dim) == old.sizes[dim]:
                resolved[dim] = slice(0, old.sizes[dim])  # the whole dimension
                continue
            raise RegionError(
                f"region[{dim!r}] = 'auto' needs a coordinate {dim!r} in both the data and the "
                "store to find where the data goes; give a slice instead"
            )
        positions = old.indexes[dim].get_indexer(ds.indexes[dim])
        if len(positions) == 0 or (positions < 0).any():
            absent = ds.indexes[dim][positions < 0].tolist()
            raise RegionKeyError(
                f"region[{dim!r}] = 'auto': the data's {dim!r} values {absent} are not in the "
                f"store's {dim!r}; a region write cannot add values (append them instead)"
            )
        start, stop = int(positions[0]), int(positions[-1]) + 1
        if not np.array_equal(positions, np.arange(start, stop)):
            raise RegionError(
                f"region[{dim!r}] = 'auto': the data's {dim!r} values are not one contiguous, "
                "ordered stretch of the store's"
            )
        resolved[dim] = slice(start, stop)
    return resolved


def without_indexes(ds: xr.Dataset, old: xr.Dataset, region: Any) -> xr.Dataset:
    """*ds* less its dimension coordinates, which a region write keeps as the store has them.

    xarray cannot change an index in a region write and drops them itself; they
    are dropped here first, so that they are neither checked nor journaled as
    written. Values that differ from the store's are a warning: the data may be
    going to the wrong place.
    """
    if not isinstance(region, Mapping) or not ds.indexes:
        return ds
    for name in ds.indexes:
        where = region.get(name)
        if (
            name in old.variables
            and isinstance(where, slice)
            and not np.array_equal(old[name].values[where], ds[name].values)
        ):
            warnings.warn(
                f"region[{name!r}] = {where!r}: the data's {name!r} values differ from the "
                f"store's there; a region write keeps the store's {name!r} (use region='auto' "
                "to place the data by its coordinates)",
                UserWarning,
                stacklevel=5,
            )
    return ds.drop_vars(list(ds.indexes))


def stored_unit(var: xr.Variable) -> tuple[int, ...] | None:
    """What one stored object of an existing variable spans: its shard, else its chunk."""
    unit = var.encoding.get("shards") or var.encoding.get("chunks")
    return tuple(int(c) for c in unit) if unit is not None and len(unit) == var.ndim else None
