"""A profiled compute on dask's local schedulers: threads, processes, synchronous.

The compute runs under dask's own Profiler, ResourceProfiler and CacheProfiler,
and the three are summed up in a :class:`~xzarrio.ProfileReport`. The resource
samples are taken by a thread of this process instead of dask's tracker process:
starting that process and waiting out its sampling interval at the end cost more
than small computes themselves (see ``benchmarks/bench_reduce.py``).
"""

from __future__ import annotations

import os
import threading
import time
from timeit import default_timer
from typing import Any

import dask.base
import psutil
from dask.diagnostics.profile import CacheProfiler, Profiler

from ..seams import ResourceProfilerBase
from .report import Profiled, summarise, zarr_cpu_seconds

__all__ = ["profile_locally"]


def profile_locally(target: Any, *, scheduler: str, workers: int, dt: float) -> Profiled:
    """Compute *target* on the local *scheduler* with *workers* threads (or processes),
    sampling resources every *dt* seconds; see ``.zio.profile``."""
    kwargs: dict[str, Any] = {"scheduler": scheduler}
    if scheduler != "synchronous":
        kwargs["num_workers"] = workers
    resources = _SampledResources(dt=dt, children=scheduler == "processes")
    with Profiler() as p, resources as r, CacheProfiler() as c:
        decoded, machine = zarr_cpu_seconds(), psutil.cpu_times()
        start = default_timer()
        (result,) = dask.base.compute(target, **kwargs)
        wall = default_timer() - start
        decoded = zarr_cpu_seconds() - decoded
    report = summarise(
        wall, p.results, r.results, cpu=max(0.0, r.cpu_seconds - r.own_cpu_seconds),
        decode=decoded, threads=1 if scheduler == "synchronous" else workers,
        scheduler=scheduler, profilers=(p, r, c), machine_idle=_idle_since(machine),
    )  # fmt: skip
    return Profiled(result, report)


def _idle_since(before: Any) -> float | None:
    """The share of the machine's CPU time that was idle since *before* (``cpu_times``)."""
    after = psutil.cpu_times()
    total = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0) - getattr(before, "iowait", 0))
    return idle / total if total > 0 else None


class _SampledResources(ResourceProfilerBase):
    """dask's ResourceProfiler, sampling from a thread of this process.

    Samples resident memory and CPU use every *dt* seconds, and once more at
    the start and at the end, so even a compute shorter than *dt* has a peak.
    CPU use is the CPU time consumed between two samples over the time between
    them (100 per busy core). Child processes are looked for only when asked
    (the processes scheduler): scanning for them reads ``/proc`` and, under a
    busy GIL, made one sample take a second. ``visualize`` draws it as dask's own.
    """

    def __init__(self, dt: float = 0.1, *, children: bool = False) -> None:
        super().__init__(dt=dt)
        self._children = children
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._processes: dict[int, Any] = {}
        self._cpu_seen: dict[int, float] = {}  # per process, the CPU seconds last seen
        self._last: tuple[float, float] | None = None  # (time, CPU seconds) of the last sample
        self.cpu_seconds = 0.0  # CPU time consumed while collecting
        self.own_cpu_seconds = 0.0  # of which the sampling itself

    def _measure(self) -> tuple[float, float]:
        """Resident memory (MB) and CPU seconds used so far, of this process (and children)."""
        import psutil

        me = self._processes.setdefault(os.getpid(), psutil.Process(os.getpid()))
        family = [me]
        if self._children:
            try:
                family += [
                    self._processes.setdefault(c.pid, c) for c in me.children(recursive=True)
                ]
            except psutil.Error:
                pass
        mem = 0.0
        for proc in family:
            try:
                times = proc.cpu_times()
                mem += proc.memory_info().rss
                # a child that has exited keeps the CPU it was last seen with
                self._cpu_seen[proc.pid] = times.user + times.system
            except psutil.Error:
                continue
        return mem / 1e6, sum(self._cpu_seen.values())

    def _sample(self) -> None:
        started = time.thread_time()
        now = default_timer()
        mem, cpu = self._measure()
        if self._last is None:
            percent = 0.0
        else:
            before, used = self._last
            self.cpu_seconds += cpu - used
            percent = 100 * (cpu - used) / (now - before) if now > before else 0.0
        self._last = (now, cpu)
        self.results.append((now, mem, percent))
        self.own_cpu_seconds += time.thread_time() - started

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def is_sampling(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start_sampling(self) -> None:
        if self.is_sampling():
            return
        self._stop.clear()
        self._last = None
        self._cpu_seen.clear()
        self.cpu_seconds = self.own_cpu_seconds = 0.0
        self._sample()
        self._thread = threading.Thread(target=self._run, name="xzarrio-resources", daemon=True)
        self._thread.start()

    def stop_sampling(self) -> None:
        if self.is_sampling():
            self._stop.set()
            assert self._thread is not None
            self._thread.join()
            self._sample()
        from dask.diagnostics.profile import ResourceData

        self.results = [
            r if isinstance(r, ResourceData) else ResourceData(*r) for r in self.results
        ]

    def close(self) -> None:
        self._stop.set()

    __del__ = close
