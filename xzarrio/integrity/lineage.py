"""The digests of the variables an object was read from, for a copy's history line."""

from __future__ import annotations

import asyncio
from typing import Any

import xarray as xr
import zarr

from ..errors import XzarrioError
from ..reading import source_of
from ..seams import sync
from ..stores import open_root
from .manifest import Manifest, ManifestError, read_manifest

__all__ = ["source_digests"]


def source_digests(obj: xr.Dataset | xr.DataArray) -> dict[str, str]:
    """The digest of each variable of *obj* as its source store holds it, by name.

    Variables whose arrays have no manifest (written before xzarrio recorded
    digests, or by another tool), or one that does not read, are left out; so
    is everything when *obj* came from no store, or its store is gone.
    """
    found = source_of(obj)
    if found is None:
        return {}
    source, how = found
    try:
        root = open_root(source, **how)
    except (OSError, XzarrioError):
        return {}
    names = [str(name) for name in obj.coords] + (
        [str(name) for name in obj.data_vars] if isinstance(obj, xr.Dataset) else [str(obj.name)]
    )
    arrays = [(n, a) for n in names if isinstance(a := root.get(n), zarr.Array)]

    async def manifest(array: zarr.Array[Any]) -> Manifest | None:
        try:
            return await read_manifest(array.store_path.store, array.path)
        except ManifestError:  # xzarrio.verify reports it; the copy is no place to refuse
            return None

    async def manifests() -> list[Manifest | None]:
        return list(await asyncio.gather(*(manifest(a) for _, a in arrays)))

    return {
        name: manifest.digest
        for (name, _), manifest in zip(arrays, sync(manifests()), strict=True)
        if manifest is not None
    }
