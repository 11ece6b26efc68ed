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

from ..codecs import quiet_spec_notes
from .checks import MODES, check_flag
from .execution import execute
from .plan import WritePlan, plan
from .report import WriteReport, report_of

__all__ = ["MODES", "WritePlan", "WriteReport", "execute", "fill_plan", "plan", "to_zarr"]


def to_zarr(
    obj: xr.Dataset | xr.DataArray, store: Any, *, compute: bool = True, **kwargs: Any
) -> Any:
    """Write *obj* to a zarr store; see :meth:`xzarrio.ZioAccessor.to_zarr`.

    With ``compute=False`` a new store's template is written now and the
    returned ``Delayed`` fills it in place (:func:`fill_plan`); an append or a
    region write touches nothing until the ``Delayed`` is computed.
    """
    compute = check_flag("compute", compute)
    with quiet_spec_notes():  # execute quiets its own: a deferred one runs later
        p = plan(obj, store, compute=compute, **kwargs)
        if compute:
            return execute(p)
        if not p.template:
            # the deferred write times itself from when it runs, not from when it was planned
            return dask.delayed(
                lambda: execute(replace(p, started=time.perf_counter())), pure=False
            )()
        execute(p)
        fill = fill_plan(p, store, kwargs)

    def fill_in() -> WriteReport:
        started = time.perf_counter()
        if fill is not None:
            execute(replace(fill, started=started))
        with quiet_spec_notes():
            return report_of(replace(p, started=started))

    return dask.delayed(fill_in, pure=False)()


#: the keywords of a write that also hold for the fill of its template
_FILL_KEYWORDS = (
    "storage_options", "group", "scheduler", "num_workers", "progress", "consolidated",
    "write_empty_chunks", "chunkmanager_store_kwargs", "safe_chunks", "align_chunks",
)  # fmt: skip


def fill_plan(template: WritePlan, store: Any, kwargs: dict[str, Any]) -> WritePlan | None:
    """The region write that fills the *template* (written) with its dask data.

    It runs in place under the store's journal, so that a fill that fails
    leaves the template as it was; it adds no history line (the template's
    records the write). None where the template holds all the data already.
    """
    lazy = {name: v for name, v in template.ds.variables.items() if v.chunks is not None}
    if not lazy:
        return None
    coords = set(template.ds.coords)
    ds = xr.Dataset(
        {name: v for name, v in lazy.items() if name not in coords},
        coords={name: v for name, v in lazy.items() if name in coords},
    )
    region = {dim: slice(0, size) for dim, size in ds.sizes.items()}
    same = {key: value for key, value in kwargs.items() if key in _FILL_KEYWORDS}
    fill = plan(ds, store, region=region, **same)
    return replace(fill, provenance=False)
