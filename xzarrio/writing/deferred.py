"""``compute=False``: a write returned as a ``Delayed``, finished when it is computed.

For a new store the template (metadata, coordinates, data in memory) is
written and swapped in at once, as in xarray; the returned
:class:`WriteDelayed` holds the graph of the chunk writes that fill it (a
region write of the whole template), built now on a store that takes no
chunk writes yet. Computing it begins the fill's transaction (the store's
journal), runs the chunk writes and ends in the commit, or, after a failure,
in the rollback to the template. Until then nothing but the template is
there: a ``WriteDelayed`` that is never computed leaves no trace.

An append, a region write or a write to an icechunk session touches nothing
until it is computed: its ``Delayed`` is one task that makes the whole write
then.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NoReturn

import xarray as xr
from dask.delayed import Delayed, delayed

from ..codecs import quiet_spec_notes
from .execution import Write, execute, execute_checked
from .plan import WritePlan, plan_write
from .report import WriteReport, report_of
from .request import Stamp, WriteRequest

__all__ = ["WriteDelayed", "defer", "fill_plan"]


def defer(planned: WritePlan, store: Any, plan_again: Callable[[], WritePlan]) -> Delayed:
    """The ``Delayed`` of the write *planned* with ``compute=False``; one that runs whole
    is planned again when it runs (``plan_again()``), and checked against the store then."""
    if not planned.template:
        # nothing is touched now; the write times itself from when it runs
        whole_write: Delayed = delayed(
            lambda: execute_checked(plan_again(), plan_again), pure=False
        )()
        return whole_write
    execute(planned)  # the template
    fill = fill_plan(planned, store)
    if fill is None:
        report_task: Delayed = delayed(lambda: _report(planned, time.perf_counter()), pure=False)()
        return report_task
    write = Write(fill)
    write.build()  # on the waiting store: xarray reads the template, writes nothing
    return WriteDelayed(_Fill(write, planned))


class WriteDelayed(Delayed):
    """The chunk writes that fill a template, ending in the write's commit.

    Its graph is xarray's real write graph (one task per stored chunk
    written). Its own ``.compute()`` begins the write, runs that graph on the
    write's scheduler and pool, and commits, or rolls the store back to the
    template after a failure; it returns the
    :class:`~xzarrio.writing.report.WriteReport`.

    ``dask.compute`` of it, alone or with others, works too on dask's threads
    (or the synchronous scheduler): the write begins when its first chunk is
    written and commits when the graph has run, both in this process. If that
    fails, its ``.compute()`` runs the fill again and ends it (committed, or
    rolled back); else the fill is rolled back when the ``WriteDelayed`` is
    dropped, at the latest when the process ends. dask runs the commit of a
    graph computed on other processes (the processes scheduler, a Client)
    there, where it cannot run: use its own ``.compute()`` for those.
    """

    def __init__(self, fill: _Fill) -> None:
        graph = fill.write.chunk_writes
        super().__init__(graph.key, graph.dask)
        self._fill = fill
        fill.write.store.begin_on_demand(fill.begin)
        weakref.finalize(self, fill.abandon)

    def compute(self, **kwargs: Any) -> WriteReport:
        """Write, commit, report, on the scheduler its call to ``to_zarr`` asked for."""
        if kwargs:
            raise TypeError(
                f"a deferred xzarrio write takes no keywords when computed, got "
                f"{sorted(kwargs)}; give scheduler= and num_workers= to to_zarr"
            )
        return self._fill.run()

    def __dask_postcompute__(self) -> tuple[Any, tuple[Any, ...]]:
        return _end_fill, (self._fill,)


def _end_fill(result: Any, fill: _Fill) -> WriteReport:
    """After ``dask.compute`` of a :class:`WriteDelayed`'s graph: commit, report."""
    return fill.end()


class _Fill:
    """The fill of a template: begun once, then ended once (run, or ended after dask
    ran its graph), or abandoned (rolled back) if it never ends."""

    def __init__(self, write: Write, template: WritePlan) -> None:
        self.write = write
        self.template = template
        self._lock = threading.Lock()
        self._begun = False
        self._ended = False

    def begin(self) -> None:
        """Begin the fill's transaction, once."""
        with self._lock:
            if self._begun:
                return
            self._begun = True
        self.write.started = time.perf_counter()
        with quiet_spec_notes():
            self.write.begin()

    def run(self) -> WriteReport:
        """Begin (if not yet), run the chunk writes on the write's own pool, commit."""
        return self._finish(self.write.run)

    def end(self) -> WriteReport:
        """Begin (if nothing was written), then commit what dask wrote."""
        return self._finish(self.write.end)

    def _finish(self, step: Callable[[], object]) -> WriteReport:
        self._claim()
        self.begin()
        with quiet_spec_notes():
            step()
        return _report(self.template, self.write.started)

    def abandon(self) -> None:
        """Roll back a fill that was begun and never ended."""
        with self._lock:
            if self._ended or not self._begun:
                return
            self._ended = True
        self.write.abandon()

    def _claim(self) -> None:
        with self._lock:
            if self._ended:
                raise RuntimeError(
                    "this deferred write has already been computed; call to_zarr again to "
                    "write again"
                )
            self._ended = True

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "a deferred xzarrio write commits in the process that made it: compute it with "
            "its own .compute() (which runs on the scheduler given to to_zarr), or with "
            "dask.compute on dask's threads; not on other processes or a Client"
        )


def _report(template: WritePlan, started: float) -> WriteReport:
    with quiet_spec_notes():
        return report_of(template, started)


def fill_plan(template: WritePlan, store: Any) -> WritePlan | None:
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
    asked = template.request
    request = WriteRequest(
        mode="r+", region={dim: slice(0, size) for dim, size in ds.sizes.items()},
        storage_options=asked.storage_options, group=asked.group,
        consolidated=asked.consolidated, xarray=asked.xarray,
        running=replace(asked.running, compute=True),
        stamp=Stamp(recorded=False),
    )  # fmt: skip
    return plan_write(ds, store, request)
