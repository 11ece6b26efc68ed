"""The arguments of a write: the object, its names and attributes, and the keywords.

Each check raises an :mod:`xzarrio.errors` error that names what was
expected, before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidAttributeError,
    NotStorableError,
    RegionKeyError,
    UnnamedDataArrayError,
)

__all__ = [
    "MODES",
    "NONE_NAME",
    "as_dataset",
    "check_all_attrs",
    "check_flag",
    "check_group",
    "check_kept_layout",
    "check_mapping",
    "check_mode",
    "check_names",
    "check_optional_flag",
    "check_storable",
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
        if obj.name in obj.coords:
            raise InvalidArgumentError(
                f"cannot write a DataArray named {obj.name!r} like one of its coordinates: zarr "
                "stores one array per name, so its values and the coordinate cannot both be "
                f"{obj.name!r}; rename it first, e.g. da.rename({str(obj.name) + '_values'!r})"
                ".zio.to_zarr(...)"
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
    ``/`` would make the variable vanish into a group, and so would a backslash
    (zarr's store paths take it for a ``/``); ``.`` and ``..`` are no path,
    and zarr's metadata keys would be overwritten.
    """
    for name in list(ds.variables) + list(ds.dims):
        if not isinstance(name, str):
            raise ArgumentTypeError(
                f"variable and dimension names must be strings to be stored in zarr, "
                f"got {name!r} of type {type(name).__name__}; rename it first"
            )
        if name in ("", ".", "..") or "/" in name or "\\" in name or name in _RESERVED_NAMES:
            raise InvalidArgumentError(
                f"the name {name!r} cannot be stored in zarr: a variable or dimension name "
                "must be a non-empty string without '/' or a backslash (zarr reads both as a "
                "group's separator), not '.' or '..', and not one of zarr's keys "
                f"{sorted(_RESERVED_NAMES)}; rename it first"
            )


def check_storable(ds: xr.Dataset) -> None:
    """Refuse what zarr cannot hold: MultiIndex coordinates, objects of mixed types.

    Dask arrays of objects are computed to be checked: xarray loads them into
    memory to find their type anyway (and warns that it does). Not dates read
    from a store (their encoding has units "... since ..."): xarray encodes
    those lazily, and they are of one type.
    """
    for name, index in ds.indexes.items():
        if isinstance(index, pd.MultiIndex) and name in ds.dims:
            raise NotStorableError(
                f"coordinate {name!r} is a pandas MultiIndex, which zarr cannot store; "
                f"reset it first: ds.reset_index({name!r})"
            )
    for name, var in ds.variables.items():
        if var.dtype != object or var.size == 0:
            continue
        if var.chunks is not None and " since " in str(var.encoding.get("units", "")):
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
    """*value* as JSON would hold it; a TypeError for what JSON cannot hold."""
    if isinstance(value, np.datetime64 | np.timedelta64) or (
        isinstance(value, np.ndarray) and value.dtype.kind in "Mm"
    ):
        # .item() of nanoseconds is a bare int: the time would be stored as a number
        raise TypeError(f"{type(value).__name__} is no JSON value")
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


def check_mode(mode: Any, append_dim: Any, region: Any) -> str:
    """*mode*, refused where it does not fit *append_dim* or *region*, as xarray refuses
    it (``mode=None`` is resolved before: :class:`~xzarrio.writing.request.WriteRequest`)."""
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
    if append_dim is not None and mode not in ("a", "a-"):
        raise InvalidArgumentError(f"append_dim needs mode='a' or 'a-', got mode={mode!r}")
    if region is not None and mode not in ("r+", "a", "a-"):
        raise InvalidArgumentError(f"region needs mode='r+' (or 'a'), got mode={mode!r}")
    return str(mode)


def check_kept_layout(chunks: Any, compressor: Any, keepbits: Any, operation: str) -> None:
    """Refuse ``chunks=``, ``compressor=`` and ``keepbits=`` where the store's own are kept,
    not changed."""
    kept = (
        ("chunks", chunks, "chunks"),
        ("compressor", compressor, "codecs"),
        ("keepbits", keepbits, "kept bits"),
    )
    for keyword, value, what in kept:
        if value is not None and not (isinstance(value, Mapping) and not value):
            raise InvalidArgumentError(
                f"{keyword}={value!r} cannot change an existing store's {what}: an {operation} "
                f"writes with the {what} the store has; leave {keyword}= out (or rewrite the "
                "store with rechunk)"
            )
