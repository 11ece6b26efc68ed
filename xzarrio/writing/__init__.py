"""The write behind ``.zio.to_zarr``, in the order it runs.

1. :mod:`~xzarrio.writing.request`: the call, checked once
   (:class:`~xzarrio.writing.request.WriteRequest`);
2. :mod:`~xzarrio.writing.checks` and :mod:`~xzarrio.writing.target`: check
   the data against the target, looked at once (one
   :class:`~xzarrio.writing.target.Target` subclass per kind of target);
3. :mod:`~xzarrio.writing.encode` and :mod:`~xzarrio.writing.plan`: encode the
   data into stored-chunk blocks; all of it a frozen
   :class:`~xzarrio.writing.plan.WritePlan`;
4. :mod:`~xzarrio.writing.execution`: run the write inside the target's
   transaction (:mod:`~xzarrio.writing.transactions`), every store call
   through the write's gate (:mod:`~xzarrio.writing.guard`), on the running
   layer (:mod:`xzarrio.running`), then stamp the provenance;
5. :mod:`~xzarrio.writing.report`: report on it.

``compute=False`` returns a :class:`~xzarrio.writing.deferred.WriteDelayed`
(:mod:`~xzarrio.writing.deferred`).

The layers above (rechunking, the accessor) import only the names of this
package's ``__all__``.
"""

from __future__ import annotations

from typing import Any

import xarray as xr
from dask.delayed import Delayed

from ..codecs import quiet_spec_notes
from .checks import MODES, as_dataset
from .deferred import defer
from .execution import execute, execute_checked
from .guard import GuardedStore
from .plan import WritePlan, plan_write
from .report import WriteReport
from .request import WriteRequest

__all__ = [
    "MODES",
    "GuardedStore",
    "WritePlan",
    "WriteReport",
    "WriteRequest",
    "as_dataset",
    "execute",
    "plan_write",
    "to_zarr",
]


def to_zarr(
    obj: xr.Dataset | xr.DataArray, store: Any, request: WriteRequest
) -> WriteReport | Delayed:
    """Write *obj* to a zarr store as *request* says; see :meth:`xzarrio.ZioAccessor.to_zarr`.

    With ``compute=False`` a new store's template is written now and the
    returned ``Delayed`` holds the chunk writes that fill it
    (:func:`~xzarrio.writing.deferred.defer`).
    """
    with quiet_spec_notes():  # execute quiets its own: a deferred one runs later
        planned = plan_write(obj, store, request)
        if request.running.compute:
            return execute_checked(planned, lambda: plan_write(obj, store, request))
        # a deferred write that runs whole is planned again when it runs: checked then
        when_run = request.but(compute=True)
        return defer(planned, store, lambda: plan_write(obj, store, when_run))
