"""xzarrio: parallel zarr input/output for xarray, with provenance and profiles.

``import xzarrio`` registers the ``.zio`` accessor on every ``xarray.Dataset``
and ``xarray.DataArray``.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from . import errors
from .accessor import ZioAccessor
from .integrity.checksums import use_threaded_crc32c
from .integrity.digests import use_digests
from .integrity.verify import Problem, VerifyReport, verify
from .journal import repair
from .options import get_option, set_options
from .profiling import Profiled, ProfileReport, TaskKind
from .profiling.findings import Finding
from .provenance import HistoryEntry, Provenance
from .reading import open_zarr
from .storeinfo import StoreInfo, VariableInfo, store_info
from .writing import WriteReport

use_threaded_crc32c()
use_digests()

try:
    __version__ = importlib.metadata.version("xzarrio")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
    __version__ = "0+unknown"


def info(store: Any, **kwargs: Any) -> StoreInfo:
    """The storage report of a store, as a :class:`StoreInfo`.

    Keywords ``group`` and ``storage_options`` mean what they mean to :func:`open_zarr`.

    Examples
    --------
    >>> import numpy as np, xarray as xr, xzarrio
    >>> path = getfixture("tmp_path") / "zeros.zarr"
    >>> _ = xr.Dataset({"z": ("x", np.zeros(10_000))}).zio.to_zarr(path)
    >>> xzarrio.info(path)["z"].nbytes
    80000
    """
    return store_info(store, **kwargs)


__all__ = [
    "Finding",
    "HistoryEntry",
    "Problem",
    "ProfileReport",
    "Profiled",
    "Provenance",
    "StoreInfo",
    "TaskKind",
    "VariableInfo",
    "VerifyReport",
    "WriteReport",
    "ZioAccessor",
    "__version__",
    "errors",
    "get_option",
    "info",
    "open_zarr",
    "repair",
    "set_options",
    "verify",
]
