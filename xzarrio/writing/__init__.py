"""The write behind ``.zio.to_zarr``, in the order it runs.

1. :mod:`~xzarrio.writing.checks` and :mod:`~xzarrio.writing.target`: check
   the arguments, look at the target once (:class:`~xzarrio.writing.target.Target`);
2. :mod:`~xzarrio.writing.encode` and :mod:`~xzarrio.writing.plan`: encode the
   data into stored-chunk blocks; all of it a frozen
   :class:`~xzarrio.writing.plan.WritePlan`;
3. :mod:`~xzarrio.writing.execution`: run the write inside a transaction
   (:mod:`~xzarrio.writing.transactions`, one per kind of target), every store
   call through the write's gate (:mod:`~xzarrio.writing.guard`), then stamp
   the provenance;
4. :mod:`~xzarrio.writing.report`: report on it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import dask
import xarray as xr

from .checks import MODES, check_flag
from .execution import execute
from .plan import WritePlan, plan
from .report import WriteReport

__all__ = ["MODES", "WritePlan", "WriteReport", "execute", "plan", "to_zarr"]


def to_zarr(
    obj: xr.Dataset | xr.DataArray, store: Any, *, compute: bool = True, **kwargs: Any
) -> Any:
    """Write *obj* to a zarr store; see :meth:`xzarrio.ZioAccessor.to_zarr`."""
    compute = check_flag("compute", compute)
    p = plan(obj, store, **kwargs)
    if compute:
        return execute(p)
    # the deferred write times itself from when it runs, not from when it was planned
    return dask.delayed(lambda: execute(replace(p, started=time.perf_counter())), pure=False)()
