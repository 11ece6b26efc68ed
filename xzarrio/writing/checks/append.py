"""Checks of an append: the data against the variables, dtypes and index the store holds.

Each check raises :class:`~xzarrio.errors.AppendMismatchError`, naming what
was expected, before anything is written.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import AppendMismatchError
from .encoding import check_fits_store
from .region import stored_index

__all__ = ["check_append", "fit_strings"]


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
    if not narrower:  # two copies of the Dataset spared, on every append
        return ds
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
    check_fits_store(ds, old)


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
    elif var.dtype == object and have.dtype == object:
        _check_cftime_calendar(name, var, have)
    if _stored_dtype(have).kind in "US":
        _check_string_width(name, var, _stored_dtype(have))


def _check_append_index(ds: xr.Dataset, old: xr.Dataset, append_dim: Hashable) -> None:
    """The appended values of the append dimension's index: each new, each once."""
    stored = stored_index(old, append_dim) if append_dim in ds.indexes else None
    if stored is None:
        return
    new = ds.indexes[append_dim]
    if new.has_duplicates:
        raise AppendMismatchError(
            f"cannot append along {append_dim!r}: the data repeats the values "
            f"{new[new.duplicated()].unique().tolist()}; an index that repeats a value "
            "selects two places with one label"
        )
    both = new[new.isin(stored)]
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


def _calendar(name: Any) -> str:
    """The calendar *name* (an encoding's ``calendar``) stands for."""
    lowered = str(name).lower()
    return _CALENDAR_ALIASES.get(lowered, lowered)


def _check_time_encoding(name: Hashable, var: xr.Variable, have: xr.Variable) -> None:
    """Appended times: the store's calendar, and values its units can hold exactly.

    Other units are fine (xarray encodes an append in the store's units, a file
    of each month its own "hours since" the month's start); another calendar is not.
    """
    mine, theirs = var.encoding.get("calendar"), have.encoding.get("calendar")
    if mine is not None and theirs is not None and _calendar(mine) != _calendar(theirs):
        raise AppendMismatchError(
            f"cannot append variable {name!r}: its encoding says calendar {mine!r} but the "
            f"store's is {theirs!r}, which the appended values are stored in; convert the "
            f"data to the store's calendar (ds.convert_calendar({theirs!r}))"
        )
    _check_times_fit(name, var, have)


def _dates_calendar(var: xr.Variable) -> str | None:
    """The calendar of the cftime dates *var* holds in memory (its first), or None."""
    if var.chunks is not None or var.size == 0:
        return None  # dask data: reading it here would compute it twice
    first = next((v for v in np.asarray(var.values).flat if v is not None), None)
    calendar = getattr(first, "calendar", None)
    return calendar if isinstance(calendar, str) and calendar else None


def _check_cftime_calendar(name: Hashable, var: xr.Variable, have: xr.Variable) -> None:
    """Appended cftime dates: of the store's calendar.

    xarray encodes them in the store's units and reads them back in the
    store's calendar: a julian 2000-03-01 would become another day.
    """
    mine = var.encoding.get("calendar") or _dates_calendar(var)
    theirs = have.encoding.get("calendar") or _dates_calendar(have)
    if mine is None or theirs is None or _calendar(mine) == _calendar(theirs):
        return
    raise AppendMismatchError(
        f"cannot append variable {name!r}: its dates are in calendar {mine!r} but the "
        f"store's are in {theirs!r}, in which the appended ones would be read back; convert "
        f"the data to the store's calendar first (ds.convert_calendar({theirs!r}))"
    )


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
    units = have.encoding["units"]
    if (offsets % step != np.timedelta64(0)).any():
        raise AppendMismatchError(
            f"cannot append variable {name!r}: the store holds whole {units!r} as integers, "
            f"and the appended times are not whole {units.split()[0]}; round them first "
            "(e.g. .dt.floor), or write a store with finer units"
        )
    numbers, info = offsets // step, np.iinfo(stored)
    if numbers.size and (numbers.min() < info.min or numbers.max() > info.max):
        raise AppendMismatchError(
            f"cannot append variable {name!r}: the store holds {units!r} as {stored}, from "
            f"{info.min} to {info.max}, and the appended times are {numbers.min()} to "
            f"{numbers.max()} of them, which would wrap around; write a new store with a "
            "wider dtype"
        )


def _stored_dtype(have: xr.Variable) -> np.dtype[Any]:
    """The dtype of a stored variable's array, even once its values were loaded.

    xarray may load fixed-width strings narrower than they are stored (an
    empty string as ``<U1``); the encoding keeps the store's dtype.
    """
    stored: np.dtype[Any] = np.dtype(have.encoding.get("dtype", have.dtype))
    return stored


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
