"""Lazy reopening, and finding the store an object came from."""

from __future__ import annotations

from typing import Any

import xarray as xr

from .codecs import quiet_spec_notes
from .consistency import open_consistent
from .errors import InterruptedWriteError, InvalidArgumentError, NoSourceStoreError
from .journal import check_store
from .provenance import PROVENANCE_KEYS, Provenance
from .storeinfo import StoreInfo, store_info
from .stores import check_readable, locate, open_root, source_of_store

__all__ = ["open_zarr", "provenance_of", "reopen", "source_of"]


def open_zarr(
    store: Any,
    *,
    group: str | None = None,
    chunks: Any = "stored",
    consolidated: bool | None = None,
    storage_options: dict[str, Any] | None = None,
    zarr_format: int | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """Open a zarr store lazily, one dask chunk per stored chunk.

    Only metadata is read (and the values of dimension coordinates, which
    xarray loads to build its indexes); no dask task is computed, and nothing
    on the store is changed.

    Parameters
    ----------
    store : str, path or zarr store
        A local directory, a URL such as ``s3://bucket/data.zarr`` (with
        *storage_options*) or a zarr store object.
    group : str, optional
        The group inside the store.
    chunks : "stored", "auto", dict or None, default "stored"
        ``"stored"`` gives one dask chunk per stored zarr chunk; ``"auto"``,
        a dict or None mean what they mean to :func:`xarray.open_zarr`.
    consolidated, storage_options, zarr_format, **kwargs
        As for :func:`xarray.open_zarr`, whose keywords are all taken, and
        those of :func:`xarray.open_dataset` too (``cache``, ...).

    Returns
    -------
    xarray.Dataset
        Dask-backed; the Dataset and every variable carry the store in
        ``encoding["source"]``.

    Raises
    ------
    FileNotFoundError
        When a local store does not exist.
    ValueError
        When the path exists but is no zarr store (the message names it).
    xzarrio.errors.InterruptedWriteError
        When a write was interrupted and left the store half-written; the
        message says to run :func:`xzarrio.repair`.

    Examples
    --------
    >>> import numpy as np, xarray as xr, xzarrio
    >>> path = getfixture("tmp_path") / "example.zarr"
    >>> _ = xr.Dataset({"t": ("x", np.arange(6.0))}).zio.to_zarr(path, chunks={"x": 2})
    >>> ds = xzarrio.open_zarr(path)
    >>> ds.t.chunks
    ((2, 2, 2),)
    >>> ds.t.encoding["source"] == str(path)
    True
    """
    if chunks == "stored":
        chunks = {}
    elif not (chunks is None or chunks == "auto" or isinstance(chunks, dict | int)):
        raise InvalidArgumentError(
            f"chunks={chunks!r} is not understood; expected 'stored', 'auto', a dict "
            "{dim: size} or None"
        )
    location = locate(store, storage_options)
    _check_not_left_aside(location)
    check_readable(location, group)
    check_store(location)  # an interrupted write: say how to repair it

    def open_dataset(opener: Any) -> xr.Dataset:
        # xarray's open_dataset, as its open_zarr calls it, so that its keywords
        # (cache, decode_times, ...) are taken too
        with quiet_spec_notes():
            return xr.open_dataset(
                opener, engine="zarr", group=group, chunks=chunks, consolidated=consolidated,
                zarr_format=zarr_format, **kwargs,
            )  # fmt: skip

    ds = open_consistent(location, group, open_dataset)
    return _remember_source(ds, source_of_store(store), group, storage_options)


def _check_not_left_aside(location: Any) -> None:
    """A local store that a killed two-rename swap left aside is for ``repair`` to restore."""
    from .atomic import STAGING_MARK

    path = location.path
    if path is None or path.exists() or not path.parent.is_dir():
        return
    prefix = f".{path.name}{STAGING_MARK}"
    if any(p.name.startswith(prefix) and p.name.endswith("-old") for p in path.parent.iterdir()):
        raise InterruptedWriteError(
            f"a mode='w' write to {str(path)!r} was interrupted while it swapped the new store "
            f"in; the old store is kept beside it: restore it with xzarrio.repair({str(path)!r})"
        )


def _remember_source(
    ds: xr.Dataset, source: Any, group: str | None, storage_options: dict[str, Any] | None
) -> xr.Dataset:
    where = {"source": source}
    if group:
        where["group"] = group
    if storage_options:
        where["storage_options"] = storage_options
    ds.encoding.update(where)
    for variable in ds.variables.values():
        variable.encoding.update(where)
    return ds


def source_of(obj: xr.Dataset | xr.DataArray) -> tuple[Any, dict[str, Any]] | None:
    """The store *obj* was read from and how to open it again, or None."""
    encoding = obj.encoding
    if "source" not in encoding and isinstance(obj, xr.Dataset):
        # a Dataset rebuilt from variables of one store still knows it
        # a store object need not be hashable: compared one by one
        sources = [v.encoding["source"] for v in obj.variables.values() if "source" in v.encoding]
        if sources and all(source is sources[0] or source == sources[0] for source in sources):
            first = next(v for v in obj.variables.values() if "source" in v.encoding)
            encoding = first.encoding
    if "source" not in encoding:
        return None
    how = {k: encoding[k] for k in ("group", "storage_options") if k in encoding}
    return encoding["source"], how


def _require_source(obj: xr.Dataset | xr.DataArray, what: str) -> tuple[Any, dict[str, Any]]:
    found = source_of(obj)
    if found is None:
        kind = type(obj).__name__
        raise NoSourceStoreError(
            f"cannot {what}: this {kind} was not read from a store (it has no "
            "encoding['source']); write it with .zio.to_zarr(path) or open one with "
            "xzarrio.open_zarr(path)"
        )
    return found


def reopen(obj: xr.Dataset | xr.DataArray, **kwargs: Any) -> xr.Dataset:
    """Lazily reopen the store *obj* was read from (see :func:`open_zarr`)."""
    source, how = _require_source(obj, "reopen")
    return open_zarr(source, **{**how, **kwargs})


def info_of(obj: xr.Dataset | xr.DataArray) -> StoreInfo:
    """The storage report of the store *obj* was read from."""
    source, how = _require_source(obj, "report storage")
    return store_info(source, **how)


def provenance_of(obj: xr.Dataset | xr.DataArray) -> Provenance:
    """The provenance of *obj*: its own attributes, else its store's root attributes."""
    if any(key in obj.attrs for key in PROVENANCE_KEYS):
        return Provenance.from_attrs(obj.attrs)
    found = source_of(obj)
    if found is None:
        return Provenance()
    source, how = found
    return Provenance.from_attrs(open_root(source, **how).attrs.asdict())
