"""Profiles on a ``distributed.Client``: the same report, from the cluster.

The tasks come from the scheduler's task stream; the CPU time from the
workers' own record of their tasks' thread CPU time (``digests_total``,
distributed's fine performance metrics) plus the CPU of zarr's threads in
each worker process, which read and decode for the tasks; memory from the workers' resident size,
sampled during the run. ``save_html`` asks the scheduler for distributed's
own performance report of the time since the compute began.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dask.base
from dask.diagnostics.profile import ResourceData, TaskData

from ..errors import InvalidArgumentError
from ..seams import cluster_performance_report, scheduler_monitor_count, worker_task_cpu_seconds
from .report import Profiled, summarise, zarr_cpu_seconds

__all__ = ["profile_on_client"]


@dataclass
class Recorded:
    """Records as dask's profilers hold them (``.results``), for the pictures."""

    results: list[Any]


def profile_on_client(client: Any, target: Any, dt: float) -> Profiled:
    """Compute *target* on the cluster of *client*, profiled; see ``.zio.profile``."""
    import distributed

    threads = sum(client.nthreads().values())
    cpu_before = sum(client.run(worker_task_cpu_seconds).values())
    decode_before = _per_process(client, _zarr_cpu)
    page = ClusterPage.begin(client)
    with _sampled(client, dt) as samples, distributed.get_task_stream(client=client) as stream:
        start = time.time()
        (result,) = dask.base.compute(target, scheduler=client)
        wall = time.time() - start
    decode = _per_process(client, _zarr_cpu) - decode_before
    # the tasks' own threads, and zarr's threads that read and decode for them: the
    # CPU that a local profile counts in its process
    cpu = sum(client.run(worker_task_cpu_seconds).values()) - cpu_before + decode
    tasks = [_task_of(record) for record in stream.data if _computed(record)]
    report = summarise(
        wall, tasks, samples, cpu=max(0.0, cpu), decode=max(0.0, decode), threads=threads,
        scheduler="distributed", profilers=(Recorded(tasks), Recorded(samples)),
        cluster_page=page,
    )  # fmt: skip
    return Profiled(result, report)


def _computed(record: dict[str, Any]) -> bool:
    return any(s.get("action") == "compute" for s in record.get("startstops", ()))


def _task_of(record: dict[str, Any]) -> TaskData:
    """A task stream record as dask's Profiler records a task (its compute, its thread)."""
    computes = [s for s in record["startstops"] if s.get("action") == "compute"]
    start = min(s["start"] for s in computes)
    stop = max(s["stop"] for s in computes)
    return TaskData(record["key"], None, start, stop, (record["worker"], record.get("thread")))


def _per_process(client: Any, measure: Any) -> float:
    """*measure* summed over the workers' processes, once each: several workers may share
    a process (a cluster of threads), and the measure is of the whole process."""
    return float(sum(dict(client.run(measure).values()).values()))


def _zarr_cpu() -> tuple[int, float]:
    return os.getpid(), zarr_cpu_seconds()


def _usage() -> tuple[int, tuple[float, float]]:
    """This worker process's id, and its resident memory (MB) and CPU seconds so far."""
    import psutil

    me = psutil.Process(os.getpid())
    times = me.cpu_times()
    return me.pid, (me.memory_info().rss / 1e6, times.user + times.system)


@contextmanager
def _sampled(client: Any, dt: float) -> Iterator[list[ResourceData]]:
    """The workers' summed memory and CPU use, sampled every *dt* seconds from a thread,
    and once more at the start and at the end."""
    samples: list[ResourceData] = []
    last: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        now = time.time()
        usage = dict(client.run(_usage).values()).values()  # once per process
        memory, cpu = sum(u[0] for u in usage), sum(u[1] for u in usage)
        since = now - last[0][0] if last else 0.0
        percent = 100 * (cpu - last[0][1]) / since if since > 0 else 0.0
        last[:] = [(now, cpu)]
        samples.append(ResourceData(now, memory, percent))

    def run() -> None:
        while not stop.wait(dt):
            sample()

    sample()
    sampler = threading.Thread(target=run, name="xzarrio-cluster-resources", daemon=True)
    sampler.start()
    try:
        yield samples
    finally:
        stop.set()
        sampler.join()
        sample()


@dataclass
class ClusterPage:
    """distributed's performance report of the cluster since a compute began, made when
    asked for (making it takes the scheduler a good part of a second)."""

    client: Any
    start: float
    last_count: int

    @classmethod
    def begin(cls, client: Any) -> ClusterPage:
        count = client.run_on_scheduler(scheduler_monitor_count)
        client.get_task_stream(start=0, stop=0)  # the scheduler's task stream plugin, on
        return cls(client, time.time(), count)

    def html(self) -> str:
        if self.client.status != "running":
            raise InvalidArgumentError(
                "the Client this profile ran on is closed: its performance report can no "
                "longer be made; save the page before closing the Client"
            )
        return cluster_performance_report(
            self.client, start=self.start, last_count=self.last_count, code="xzarrio profile"
        )
