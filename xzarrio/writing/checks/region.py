"""Checks of a region write: where the data goes in the store, and its indexes.

Each check raises an :mod:`xzarrio.errors` region error that names what was
expected, before anything is written.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ...chunks import is_int
from ...errors import RegionError, RegionKeyError, RegionTypeError
from .encoding import check_fits_store

__all__ = ["check_region", "resolve_region", "stored_index", "without_indexes"]


def stored_index(old: xr.Dataset, dim: Hashable) -> pd.Index | None:
    """The index of the store's coordinate *dim*, read now; None where it has none.

    The store is opened without indexes: building them reads every coordinate,
    and only the checks that place data by one need it.
    """
    if dim in old.indexes:
        return old.indexes[dim]
    coordinate = old.variables.get(dim)
    if coordinate is None or coordinate.dims != (dim,):
        return None
    return coordinate.to_index()


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
        stored = stored_index(old, dim) if dim in ds.indexes else None
        if stored is None:
            if dim in old.dims and ds.sizes.get(dim) == old.sizes[dim]:
                resolved[dim] = slice(0, old.sizes[dim])  # the whole dimension
                continue
            raise RegionError(
                f"region[{dim!r}] = 'auto' needs a coordinate {dim!r} in both the data and the "
                "store to find where the data goes; give a slice instead"
            )
        positions = stored.get_indexer(ds.indexes[dim])
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
    check_fits_store(ds, old)


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
