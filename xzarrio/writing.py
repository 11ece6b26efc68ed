"""The write: one core function behind ``.zio.to_zarr``.

Everything that can be checked without writing is checked first (``plan``);
then xarray's own zarr backend writes the chunks through dask (``execute``).
A local ``mode="w"``/``"w-"`` write goes to a staging directory that is
swapped in only when complete (see :mod:`xzarrio.atomic`).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import numbers
import sys
import time
import uuid
import warnings
from collections.abc import Hashable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import dask
import dask.array
import numpy as np
import pandas as pd
import xarray as xr
import zarr
from dask.utils import format_bytes

from . import options
from .atomic import staged_store
from .chunks import check_chunks, stored_chunks
from .codecs import resolve_compressors
from .errors import (
    AppendMismatchError,
    InvalidArgumentError,
    InvalidAttributeError,
    InvalidChunksError,
    NotAZarrStoreError,
    RegionError,
    StoreExistsError,
    StoreNotFoundError,
    UnnamedDataArrayError,
    XzarrioError,
)
from .journal import Extent, guarded, metadata_lock
from .options import is_distributed_client
from .provenance import (
    Provenance,
    attrs_for_modified_store,
    attrs_for_new_store,
    format_call,
    now_utc,
)
from .reading import open_zarr, provenance_of
from .storeinfo import store_nbytes_stored
from .stores import is_zarr_dir, local_path, open_root, source_of_store

__all__ = ["MODES", "SCHEDULERS", "WriteReport", "to_zarr"]

MODES = ("w-", "w", "a", "r+")
SCHEDULERS = ("threads", "synchronous", "processes")
_SCHEDULER_ALIASES = {
    "threading": "threads",
    "sync": "synchronous",
    "single-threaded": "synchronous",
    "multiprocessing": "processes",
}
# encoding keys that describe how the source was stored, not what the data is
_STORAGE_KEYS = {
    "chunks",
    "preferred_chunks",
    "compressors",
    "compressor",
    "filters",
    "shards",
    "serializer",
    "fill_value",
    "source",
    "original_shape",
    "group",
    "storage_options",
    "zarr_format",
}


@dataclass(frozen=True, kw_only=True)
class WriteReport:
    """What a write did and what it costs on the store.

    Attributes
    ----------
    store : str
        Where the store is (an absolute path for a local store).
    variables : tuple of str
        The variables written (coordinates included).
    nbytes : int
        Logical size of the written arrays as they are in the store after the
        write (after an append: their whole length).
    nbytes_stored : int
        Bytes those arrays occupy on the store; for a new store, every byte of
        the store, metadata included.
    seconds : float
        Wall time of the write, validation to swap.
    nbytes_written : int
        Logical bytes this call wrote (the object's size).
    provenance : Provenance
        The store's provenance after the write.
    """

    store: str
    variables: tuple[str, ...]
    nbytes: int
    nbytes_stored: int
    seconds: float
    nbytes_written: int
    mode: str
    zarr_format: int
    provenance: Provenance = field(default_factory=Provenance)
    storage_options: dict[str, Any] | None = None
    location: Any = field(default=None, repr=False, compare=False)  # what .open() opens

    @property
    def ratio(self) -> float:
        """Compression ratio: ``nbytes / nbytes_stored``."""
        return self.nbytes / self.nbytes_stored if self.nbytes_stored else float("inf")

    @property
    def throughput(self) -> float:
        """Logical bytes written per second."""
        return self.nbytes_written / self.seconds if self.seconds > 0 else float("inf")

    def open(self, **kwargs: Any) -> xr.Dataset:
        """Reopen the written store lazily (see :func:`xzarrio.open_zarr`)."""
        if self.storage_options and "storage_options" not in kwargs:
            kwargs["storage_options"] = self.storage_options
        return open_zarr(self.location if self.location is not None else self.store, **kwargs)

    def __repr__(self) -> str:
        names = ", ".join(self.variables)
        speed = format_bytes(int(self.throughput)) if np.isfinite(self.throughput) else "inf"
        return "\n".join(
            [
                f"<xzarrio.WriteReport {self.store!r}>",
                f"  mode        : {self.mode} (zarr format {self.zarr_format})",
                f"  variables   : {names}",
                f"  size        : {format_bytes(self.nbytes)} ({self.nbytes:,} bytes)",
                f"  stored      : {format_bytes(self.nbytes_stored)} "
                f"({self.nbytes_stored:,} bytes)",
                f"  ratio       : {self.ratio:.2f}",
                f"  time        : {self.seconds:.2f} s",
                f"  throughput  : {speed}/s",
            ]
        )


# --------------------------------------------------------------------------- checks


def _as_dataset(obj: xr.Dataset | xr.DataArray) -> xr.Dataset:
    if isinstance(obj, xr.DataArray):
        if obj.name is None:
            raise UnnamedDataArrayError(
                "cannot write an unnamed DataArray: zarr stores variables by name; "
                "name it first, e.g. da.rename('temperature').zio.to_zarr(...)"
            )
        return obj.to_dataset()
    return obj


def _check_names(ds: xr.Dataset) -> None:
    for name in list(ds.variables) + list(ds.dims):
        if not isinstance(name, str):
            raise InvalidArgumentError(
                f"variable and dimension names must be strings to be stored in zarr, "
                f"got {name!r} of type {type(name).__name__}; rename it first"
            )


def _check_storable(ds: xr.Dataset) -> None:
    """Refuse what zarr cannot hold: MultiIndex coordinates, objects of mixed types."""
    for name, index in ds.indexes.items():
        if isinstance(index, pd.MultiIndex) and name in ds.dims:
            raise InvalidArgumentError(
                f"coordinate {name!r} is a pandas MultiIndex, which zarr cannot store; "
                f"reset it first: ds.reset_index({name!r})"
            )
    for name, var in ds.variables.items():
        if var.dtype != object or var.chunks is not None or var.size == 0:
            continue
        kinds = list(dict.fromkeys(type(v).__name__ for v in np.asarray(var.values).flat))
        if len([k for k in kinds if k != "NoneType"]) > 1:
            raise InvalidArgumentError(
                f"variable {name!r} holds Python objects of mixed types ({', '.join(kinds)}); "
                "zarr stores one type per variable: convert it first, e.g. .astype(str)"
            )


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


def _check_all_attrs(ds: xr.Dataset) -> None:
    _check_attrs(ds.attrs, "the Dataset")
    for name, var in ds.variables.items():
        _check_attrs(var.attrs, f"variable {name!r}")


def _resolve_scheduler(scheduler: Any) -> Any:
    if scheduler is None:
        return "threads"
    if isinstance(scheduler, str):
        name = _SCHEDULER_ALIASES.get(scheduler, scheduler)
        if name not in SCHEDULERS:
            raise InvalidArgumentError(
                f"unknown scheduler {scheduler!r}; expected one of {list(SCHEDULERS)} "
                "or a distributed.Client"
            )
        return name
    if is_distributed_client(scheduler):
        return scheduler
    raise InvalidArgumentError(
        f"scheduler={scheduler!r} is not understood; expected one of {list(SCHEDULERS)} "
        "or a distributed.Client"
    )


def _resolve_mode(mode: Any, append_dim: Any, region: Any) -> str:
    if mode not in MODES:
        raise InvalidArgumentError(f"unknown mode {mode!r}; expected one of {list(MODES)}")
    if append_dim is not None and region is not None:
        raise RegionError(
            "append_dim and region cannot be used together: append grows the store along "
            "append_dim, region overwrites a part of it; pick one"
        )
    if append_dim is not None:
        if mode not in ("w-", "a"):
            raise InvalidArgumentError(f"append_dim needs mode='a', got mode={mode!r}")
        return "a"
    if region is not None:
        if mode not in ("w-", "r+", "a"):
            raise InvalidArgumentError(f"region needs mode='r+' (or 'a'), got mode={mode!r}")
        return "r+" if mode == "w-" else mode
    return mode


def _check_target_for_new(path: Path, mode: str) -> None:
    """Refuse to create over something that must not be replaced."""
    if not path.exists():
        ancestor = next(p for p in path.parents if p.exists())
        if not ancestor.is_dir():
            raise NotAZarrStoreError(
                f"cannot create a store at {str(path)!r}: {str(ancestor)!r} is a file, not a folder"
            )
        return
    if not path.is_dir():
        raise NotAZarrStoreError(
            f"{str(path)!r} is a file, not a zarr store; refusing to write over it"
        )
    if not any(path.iterdir()):
        return
    if not is_zarr_dir(path):
        verb = "write into it" if mode == "w-" else "replace it with mode='w'"
        raise NotAZarrStoreError(
            f"{str(path)!r} is a directory that holds no zarr store; refusing to {verb} "
            "(remove it yourself, or choose another path)"
        )
    if mode == "w-":
        raise StoreExistsError(
            f"a store already exists at {str(path)!r}; use mode='w' to replace it or "
            "mode='a' with append_dim to append to it"
        )


def _existing(store: Any, group: str | None, storage_options: Any, mode: str) -> xr.Dataset:
    """The existing store, opened lazily to compare against (metadata only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return open_zarr(store, group=group, chunks=None, storage_options=storage_options)
        except zarr.errors.GroupNotFoundError:
            what = "append to" if mode == "a" else "write to"
            raise StoreNotFoundError(
                f"no zarr store in {store!r}: it holds no zarr group to {what}"
            ) from None


def _check_append(ds: xr.Dataset, old: xr.Dataset, append_dim: Hashable) -> None:
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


def _check_region(ds: xr.Dataset, old: xr.Dataset, region: Any) -> None:
    """Check a region that :func:`_resolve_region` has turned into slices."""
    if not isinstance(region, Mapping):
        raise RegionError(f"region must be 'auto' or a dict {{dim: slice}}, got {region!r}")
    for dim, where in region.items():
        if dim not in old.dims:
            raise RegionError(
                f"region names dimension {dim!r}, which the store does not have; "
                f"it has {list(old.dims)}"
            )
        if not isinstance(where, slice) or where.step not in (None, 1):
            raise RegionError(
                f"region[{dim!r}] must be a slice with step 1 or 'auto', got {where!r}"
            )
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


_ENCODING_KEYS = {
    # how zarr stores the array
    "chunks", "shards", "compressors", "compressor", "filters", "serializer",
    "write_empty_chunks", "chunk_key_encoding",
    # how xarray encodes the values (CF conventions)
    "dtype", "_FillValue", "missing_value", "scale_factor", "add_offset", "units", "calendar",
}  # fmt: skip


def _check_encoding(
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
        enc = dict(enc)
        if "chunks" in enc:
            ndim = ds.variables[name].ndim
            chunks = enc["chunks"]
            if not (
                isinstance(chunks, tuple | list)
                and len(chunks) == ndim
                and all(isinstance(c, numbers.Integral) and int(c) >= 1 for c in chunks)
            ):
                raise InvalidChunksError(
                    f"encoding['chunks'] for variable {name!r} must be {ndim} integers >= 1, "
                    f"got {chunks!r}"
                )
            enc["chunks"] = tuple(int(c) for c in chunks)
        if "compressor" in enc:
            enc["compressors"] = resolve_compressors(enc.pop("compressor"), fmt)
        elif "compressors" in enc:
            enc["compressors"] = tuple(
                c for codec in enc["compressors"] or () for c in resolve_compressors(codec, fmt)
            )
        checked[name] = enc
    return checked


def _resolve_region(ds: xr.Dataset, old: xr.Dataset, region: Any) -> Any:
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
            raise RegionError(
                f"region[{dim!r}] = 'auto': some {dim!r} values of the data are not in the store"
            )
        start, stop = int(positions[0]), int(positions[-1]) + 1
        if not np.array_equal(positions, np.arange(start, stop)):
            raise RegionError(
                f"region[{dim!r}] = 'auto': the data's {dim!r} values are not one contiguous, "
                "ordered stretch of the store's"
            )
        resolved[dim] = slice(start, stop)
    return resolved


def _without_indexes(ds: xr.Dataset, old: xr.Dataset, region: Any) -> xr.Dataset:
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


def _check_whole_chunks(ds: xr.Dataset, root: zarr.Group, region: Any, allow: bool) -> None:
    """Refuse a region that covers a stored chunk only in part, unless allowed."""
    if allow or not isinstance(region, Mapping):
        return
    for name, var in ds.variables.items():
        if str(name) not in root or var.ndim == 0:
            continue
        array = cast(zarr.Array, root[str(name)])
        for axis, dim in enumerate(var.dims):
            where = region.get(dim)
            if not isinstance(where, slice):
                continue
            start, stop, _ = where.indices(array.shape[axis])
            chunk = array.chunks[axis]
            if start % chunk or (stop % chunk and stop != array.shape[axis]):
                raise RegionError(
                    f"region[{dim!r}] = {where!r} covers stored chunks of {name!r} only in "
                    f"part (chunks of {chunk} along {dim!r}): writing part of a chunk rewrites "
                    "all of it, so another writer of its other part could lose data. Align the "
                    f"region to multiples of {chunk}, or pass allow_partial_chunks=True if no "
                    "other process writes those chunks"
                )


def _extents(
    ds: xr.Dataset,
    old: xr.Dataset,
    root: zarr.Group,
    append_dim: Hashable | None,
    region: Any,
    taken: set[str],
) -> tuple[dict[str, Extent], list[str]]:
    """What an in-place write will touch in each existing array, and what it creates."""
    extents: dict[str, Extent] = {}
    new_arrays: list[str] = []
    for name, var in ds.variables.items():
        if name not in old.variables:
            if str(name) in taken:
                raise InvalidArgumentError(
                    f"{name!r} is a group in the store; a variable cannot take its name"
                )
            new_arrays.append(str(name))
            continue
        array = cast(zarr.Array, root[str(name)])
        ranges: list[tuple[int, int] | None] = [None] * array.ndim
        if append_dim is not None and append_dim in var.dims:
            axis = var.dims.index(append_dim)
            length = array.shape[axis]
            ranges[axis] = (length, length + var.sizes[append_dim])
        elif isinstance(region, Mapping):
            for axis, dim in enumerate(var.dims):
                where = region.get(dim)
                if isinstance(where, slice):
                    start, stop, _ = where.indices(array.shape[axis])
                    ranges[axis] = (start, stop)
        extents[str(name)] = Extent(tuple(ranges))
    return extents, new_arrays


# --------------------------------------------------------------------------- plan


@dataclass(kw_only=True)
class _Plan:
    ds: xr.Dataset
    store: Any
    path: Path | None
    mode: str
    zarr_format: int
    append_dim: Hashable | None
    region: Any
    consolidated: bool | None
    storage_options: dict[str, Any] | None
    scheduler: Any
    num_workers: int
    progress: bool
    provenance: bool
    call: str  # the operation, as the history line records it
    text: str | None  # the user's note for the history line
    extents: dict[str, Extent]  # in-place writes: what each existing array will have touched
    new_arrays: list[str]  # in-place writes: arrays the write creates
    started: float


def _blocks(values: np.ndarray, chunk_shape: tuple[int, ...]) -> dask.array.Array:
    """*values* as a dask array of views, one block per stored chunk.

    ``dask.array.from_array`` would copy the whole array (and hash it for a
    name): for a write, whose tasks only read, views are enough. The write of
    229 MiB from memory then needs 229 MiB less.
    """
    chunks = dask.array.core.normalize_chunks(chunk_shape, values.shape, dtype=values.dtype)
    name = f"xzarrio-memory-{uuid.uuid4().hex}"
    graph = {
        (name, *index): values[region]
        for index, region in zip(
            itertools.product(*(range(len(c)) for c in chunks)),
            dask.array.core.slices_from_chunks(chunks),
            strict=True,
        )
    }
    return dask.array.Array(
        graph, name, chunks, dtype=values.dtype, meta=values[(slice(0, 0),) * values.ndim]
    )


def _encode_variables(
    ds: xr.Dataset,
    chunks: Mapping[Hashable, tuple[int, ...]],
    compressors: tuple[Any, ...],
    user_encoding: Mapping[Hashable, Mapping[str, Any]],
    existing: set[Hashable],
    attrs: Mapping[str, Any],
) -> xr.Dataset:
    """A new Dataset whose variables carry the write's encoding and aligned chunks."""
    variables = {}
    for name, var in ds.variables.items():
        enc = {k: v for k, v in var.encoding.items() if k not in _STORAGE_KEYS}
        if name not in existing:
            if name in chunks:
                enc["chunks"] = chunks[name]
            enc["compressors"] = compressors
        enc.update(user_encoding.get(name, {}))
        new = var.copy(deep=False)
        if name in chunks and new.chunks is None and name not in existing:
            if isinstance(var, xr.IndexVariable):
                new = new.chunk(dict(zip(var.dims, chunks[name], strict=True)))
            else:
                # in-memory data goes through dask too, one task per stored chunk
                new = xr.Variable(var.dims, _blocks(var.values, chunks[name]), var.attrs)
        new.encoding = enc
        variables[name] = new
    coords = [name for name in ds.coords]
    out = xr.Dataset(
        {name: v for name, v in variables.items() if name not in coords},
        coords={name: variables[name] for name in coords},
        attrs=dict(attrs),
    )
    return out


def plan(
    obj: xr.Dataset | xr.DataArray,
    store: Any,
    *,
    mode: str = "w-",
    chunks: Any = None,
    compressor: Any = None,
    history: str | None = None,
    append_dim: Hashable | None = None,
    region: Any = None,
    consolidated: bool | None = None,
    zarr_format: int | None = None,
    storage_options: dict[str, Any] | None = None,
    encoding: Mapping[Hashable, Mapping[str, Any]] | None = None,
    num_workers: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    allow_partial_chunks: bool = False,
) -> _Plan:
    """Check every argument and build what ``execute`` writes; touches no store."""
    started = time.perf_counter()
    ds = _as_dataset(obj)
    _check_names(ds)
    mode = _resolve_mode(mode, append_dim, region)
    scheduler = _resolve_scheduler(scheduler)
    workers = options.resolve_num_workers(num_workers)
    progress = options.OPTIONS["progress"] if progress is None else bool(progress)
    if zarr_format not in (None, 2, 3):
        raise InvalidArgumentError(f"zarr_format must be 2, 3 or None, got {zarr_format!r}")
    check_chunks(ds, chunks)
    _check_all_attrs(ds)
    _check_storable(ds)
    if history is not None and not isinstance(history, str):
        raise InvalidArgumentError(
            f"history must be a string (your note for the history line), got {history!r}"
        )

    path = local_path(store)
    existing: set[Hashable] = set()
    extents: dict[str, Extent] = {}
    new_arrays: list[str] = []
    if mode in ("w-", "w"):
        if path is not None:
            _check_target_for_new(path, mode)
        fmt = zarr_format or zarr.config.get("default_zarr_format")
    else:
        old = _existing(store, None, storage_options, mode)  # missing or not zarr: a clear error
        root = open_root(store, storage_options=storage_options)
        fmt = root.metadata.zarr_format
        if zarr_format is not None and zarr_format != fmt:
            raise InvalidArgumentError(
                f"zarr_format={zarr_format} but the store is zarr format {fmt}"
            )
        if mode == "a" and append_dim is not None:
            _check_append(ds, old, append_dim)
        if mode == "r+":
            missing = [n for n in ds.data_vars if n not in old.variables]
            if missing:
                raise RegionError(
                    f"mode='r+' overwrites existing variables only; {missing} are not in the store "
                    "(use mode='a' to add variables)"
                )
        if region is not None:
            # explicit slices from here on: the journal must know what is touched
            region = _resolve_region(ds, old, region)
            _check_region(ds, old, region)
            ds = _without_indexes(ds, old, region)
            _check_whole_chunks(ds, root, region, allow_partial_chunks)
        existing = set(old.variables)
        # what the store holds: its folder, for a local store (consolidated
        # metadata may not list a group added since), else zarr's listing
        taken = {p.name for p in path.iterdir()} if path is not None else set(root.keys())
        extents, new_arrays = _extents(ds, old, root, append_dim, region, taken)

    compressors = resolve_compressors(
        options.OPTIONS["compressor"] if compressor is None else compressor, fmt
    )
    user_encoding = _check_encoding(ds, encoding, existing, fmt)
    layout = stored_chunks(ds, chunks, options.OPTIONS["chunk_target_bytes"])
    for name, enc in user_encoding.items():
        if "chunks" in enc:
            layout[name] = enc["chunks"]

    call = format_call(
        "zio.to_zarr",
        {
            "store": str(store) if path is not None else store if isinstance(store, str) else None,
            "source": _source_name(obj),
            "mode": mode,
            "chunks": chunks,
            "compressor": compressor
            if isinstance(compressor, str | type(None))
            else type(compressor).__name__,
            "append_dim": append_dim,
            "region": region,
            "zarr_format": fmt,
        },
    )
    provenance = bool(options.OPTIONS["provenance"])
    attrs = dict(ds.attrs)
    if mode in ("w-", "w") and provenance and "history" not in attrs:
        # the trail is fixed now; the time is stamped when the write runs.
        # A DataArray carries no root attributes: its store's history is its trail.
        source = _trail_of_dataarray(obj) if isinstance(obj, xr.DataArray) else None
        if source is not None and source.history:
            attrs["history"] = "\n".join(str(e) for e in source.history)

    encoded = _encode_variables(ds, layout, compressors, user_encoding, existing, attrs)
    return _Plan(
        ds=encoded,
        store=store,
        path=path,
        mode=mode,
        zarr_format=fmt,
        append_dim=append_dim,
        region=region,
        consolidated=consolidated,
        storage_options=storage_options,
        scheduler=scheduler,
        num_workers=workers,
        progress=progress,
        provenance=provenance,
        call=call,
        text=history,
        extents=extents,
        new_arrays=new_arrays,
        started=started,
    )


def _trail_of_dataarray(obj: xr.DataArray) -> Provenance | None:
    """The provenance a DataArray inherits from its store, if that store is still there."""
    try:
        return provenance_of(obj)
    except (XzarrioError, OSError):
        return None


def _source_name(obj: xr.Dataset | xr.DataArray) -> str | None:
    source = obj.encoding.get("source")
    return source if isinstance(source, str) else None


# --------------------------------------------------------------------------- execute


def _pool(p: _Plan) -> Executor:
    if p.scheduler == "processes":
        context = multiprocessing.get_context(dask.config.get("multiprocessing.context", "spawn"))
        return ProcessPoolExecutor(p.num_workers, mp_context=context)
    return ThreadPoolExecutor(p.num_workers, thread_name_prefix="xzarrio-write")


def _compute(delayed: Any, p: _Plan) -> None:
    if is_distributed_client(p.scheduler):
        future = p.scheduler.compute(delayed)
        if p.progress:
            from distributed import progress as distributed_progress

            distributed_progress(future)
        future.result()
        return
    kwargs: dict[str, Any] = {"scheduler": p.scheduler}
    pool = None
    if p.scheduler != "synchronous":
        # Our own pool, so that after a failure we can wait for the tasks still
        # running: none may write into a staging directory once it is removed.
        kwargs["pool"] = pool = _pool(p)
    try:
        if p.progress:
            from dask.diagnostics import ProgressBar

            with ProgressBar(out=sys.stderr):
                dask.compute(delayed, **kwargs)
        else:
            dask.compute(delayed, **kwargs)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _write(p: _Plan, target: Any, mode: str) -> None:
    ds = p.ds.copy(deep=False)
    if mode in ("w", "w-"):
        if p.provenance:
            ds.attrs = attrs_for_new_store(p.ds.attrs, p.call, p.text, now_utc())
    else:
        # xarray puts the Dataset's attributes on the root in mode "a": give it the
        # store's own, so that a write that fails half-way leaves them as they were
        # ('coordinates' is xarray's own record of global coordinates: it writes it anew)
        attrs = open_root(target, storage_options=p.storage_options).attrs.asdict()
        ds.attrs = {k: v for k, v in attrs.items() if k != "coordinates"}
    with warnings.catch_warnings():
        # consolidated metadata is written for format 3 on purpose: it makes reopening fast
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        delayed = ds.to_zarr(  # type: ignore[call-overload]
            target,
            mode=mode,
            compute=False,
            # in place, metadata is consolidated once, below, with the provenance
            consolidated=p.consolidated if mode in ("w", "w-") else False,
            append_dim=p.append_dim,
            region=p.region,
            align_chunks=True,
            storage_options=p.storage_options,
            zarr_format=p.zarr_format if mode in ("w", "w-") else None,
        )
        _compute(delayed, p)
        if mode not in ("w", "w-"):
            # the data is in: only now does the history say so
            lock = metadata_lock(Path(target)) if p.path is not None else nullcontext()
            with lock:
                root = open_root(target, mode="r+", storage_options=p.storage_options)
                if p.provenance:
                    now = now_utc()
                    root.attrs.put(
                        attrs_for_modified_store(root.attrs.asdict(), p.call, p.text, now)
                    )
                if p.consolidated is not False:
                    zarr.consolidate_metadata(root.store, path=root.path or None)


def _report(p: _Plan) -> WriteReport:
    store = str(p.path) if p.path is not None else p.store
    root = open_root(store, storage_options=p.storage_options)
    names = tuple(str(n) for n in p.ds.variables)
    arrays = {name: cast(zarr.Array, root[name]) for name in names}
    if p.mode in ("w", "w-"):
        stored = store_nbytes_stored(root)
    else:
        stored = sum(int(a.nbytes_stored()) for a in arrays.values())
    source = source_of_store(store)
    return WriteReport(
        store=source if isinstance(source, str) else repr(source),
        variables=names,
        nbytes=sum(int(a.nbytes) for a in arrays.values()),
        nbytes_stored=stored,
        seconds=time.perf_counter() - p.started,
        nbytes_written=int(p.ds.nbytes),
        mode=p.mode,
        zarr_format=p.zarr_format,
        provenance=Provenance.from_attrs(root.attrs.asdict()),
        storage_options=p.storage_options,
        location=store,
    )


def execute(p: _Plan) -> WriteReport:
    """Write what :func:`plan` built and report on it."""
    if p.path is not None and p.mode in ("w", "w-"):
        with staged_store(p.path, replace=p.mode == "w") as staging:
            _write(p, str(staging), "w-")
    elif p.path is not None:
        # in place: under an undo journal; an append holds the store's lock throughout
        exclusive = p.mode == "a"
        with guarded(p.path, _operation(p), p.extents, p.new_arrays, exclusive=exclusive):
            _write(p, str(p.path), p.mode)
    else:
        _write(p, p.store, p.mode)
    return _report(p)


def _operation(p: _Plan) -> str:
    if p.append_dim is not None:
        return f"append along {p.append_dim!r}"
    return "region write" if p.region is not None else f"mode={p.mode!r} write"


def to_zarr(
    obj: xr.Dataset | xr.DataArray, store: Any, *, compute: bool = True, **kwargs: Any
) -> Any:
    """Write *obj* to a zarr store; see :meth:`xzarrio.ZioAccessor.to_zarr`."""
    p = plan(obj, store, **kwargs)
    if compute:
        return execute(p)
    # the deferred write times itself from when it runs, not from when it was planned
    return dask.delayed(lambda: execute(replace(p, started=time.perf_counter())), pure=False)()
