"""Profiled computes: ``.zio.profile``, ``.zio.reduce`` and ``.zio.graph``.

A compute runs on dask's local scheduler under dask's own Profiler,
ResourceProfiler and CacheProfiler, and the three are summed up in a
:class:`ProfileReport`. The resource samples are taken by a thread of this
process instead of dask's tracker process: starting that process and waiting
out its sampling interval at the end cost more than small computes
themselves (see ``benchmarks/bench_reduce.py``).
"""

from __future__ import annotations

import html
import os
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from timeit import default_timer
from typing import Any, NamedTuple

import dask
import psutil
import xarray as xr
from dask.diagnostics import CacheProfiler, Profiler, ResourceProfiler
from dask.utils import format_bytes, key_split

from . import timeline
from .errors import InvalidArgumentError, MissingDependencyError
from .findings import Finding, Measured, find
from .options import resolve_num_workers
from .schedulers import is_distributed_client, resolve_scheduler

__all__ = ["REDUCTIONS", "ProfileReport", "Profiled", "TaskKind", "graph", "profile", "reduce"]

#: the reductions ``reduce`` knows by name
REDUCTIONS = ("mean", "sum", "std", "var", "min", "max", "median")


class _SampledResources(ResourceProfiler):
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
        while not self._stop.wait(self._dt):
            self._sample()

    def _is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start_collect(self) -> None:
        if self._is_running():
            return
        self._stop.clear()
        self._last = None
        self._cpu_seen.clear()
        self.cpu_seconds = self.own_cpu_seconds = 0.0
        self._sample()
        self._thread = threading.Thread(target=self._run, name="xzarrio-resources", daemon=True)
        self._thread.start()

    def _stop_collect(self) -> None:
        if self._is_running():
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


@dataclass(frozen=True, kw_only=True)
class TaskKind:
    """How many tasks of one kind ran, and their summed time."""

    count: int
    seconds: float


@dataclass(frozen=True, kw_only=True)
class ProfileReport:
    """What a profiled compute did with the machine, and what limits it.

    Attributes
    ----------
    wall_seconds : float
        Wall time of the compute.
    n_tasks : int
        Tasks run (the Profiler's count).
    n_threads : int
        Threads (or processes) the compute was given (1 for ``"synchronous"``).
    task_seconds : float
        Time of all tasks summed (waiting for the GIL included).
    parallel_efficiency : float
        CPU time of the compute (less the sampler's own) ÷ (``wall_seconds`` ×
        ``n_threads``), in [0, 1]: the share of the threads' CPU that was used.
        Work that holds the GIL reads low.
    thread_busy_fraction : float
        ``task_seconds`` ÷ (``wall_seconds`` × ``n_threads``): the share of the
        time the threads had a task, whether or not it ran.
    cpu_seconds : float
        CPU time this process (and its children) used during the compute.
    decode_seconds : float
        CPU time of zarr's threads (its codec pipeline) during the compute.
    peak_memory_bytes : int
        Highest resident memory of the whole process and its children.
    memory_increase_bytes : int
        That peak less the resident memory when the compute started: what the
        compute itself added.
    mean_cpu_percent : float
        CPU time over wall time (100 per busy core).
    tasks_by_function : dict
        Task kind (dask's ``key_split`` of the key) → :class:`TaskKind`.
    findings : tuple of Finding
        What limits the compute, with the numbers behind it and what to change.
    """

    wall_seconds: float
    n_tasks: int
    n_threads: int
    task_seconds: float
    parallel_efficiency: float
    thread_busy_fraction: float = 0.0
    cpu_seconds: float = 0.0
    decode_seconds: float = 0.0
    peak_memory_bytes: int
    memory_increase_bytes: int = 0
    mean_cpu_percent: float
    tasks_by_function: dict[str, TaskKind]
    findings: tuple[Finding, ...] = ()
    scheduler: str = "threads"
    profilers: tuple[Any, ...] = field(default=(), repr=False, compare=False)
    #: on a Client: what makes distributed's performance report of the compute
    cluster_page: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        # the profilers hold threads and the cluster page a Client: a pickled or copied
        # report keeps its numbers, not what drew them
        return {**self.__dict__, "profilers": (), "cluster_page": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def summary(self) -> str:
        """A readable table: the totals, what limits the compute, one row per task kind."""
        capacity = 100 * self.n_threads
        lines = [
            f"wall time           : {self.wall_seconds:.3f} s",
            f"tasks               : {self.n_tasks}",
            f"threads             : {self.n_threads} ({self.scheduler})",
            f"task time, summed   : {self.task_seconds:.3f} s",
            f"threads busy        : {self.thread_busy_fraction:.0%} (task time ÷ wall × threads)",
            f"parallel efficiency : {self.parallel_efficiency:.0%} (CPU time ÷ wall × threads)",
            f"CPU                 : {self.cpu_seconds:.3f} s, mean {self.mean_cpu_percent:.0f} % "
            f"of {capacity} %",
            f"zarr decoding CPU   : {self.decode_seconds:.3f} s",
            f"memory              : +{format_bytes(self.memory_increase_bytes)} during the "
            f"compute (process peak {format_bytes(self.peak_memory_bytes)})",
            "",
        ]
        if self.findings:
            lines += ["findings:", *(f"  - {finding}" for finding in self.findings), ""]
        width = max([len("task kind"), *map(len, self.tasks_by_function)])
        lines.append(f"{'task kind':<{width}}  {'count':>6}  {'seconds':>8}  {'share':>6}")
        lines.append(f"{'-' * width}  {'-' * 6}  {'-' * 8}  {'-' * 6}")
        for name, kind in self.tasks_by_function.items():
            share = kind.seconds / self.task_seconds if self.task_seconds else 0.0
            lines.append(f"{name:<{width}}  {kind.count:>6}  {kind.seconds:>8.3f}  {share:>6.0%}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        findings = ", ".join(f.kind for f in self.findings) or "none"
        return (
            f"<xzarrio.ProfileReport: {self.wall_seconds:.3f} s, {self.n_tasks} tasks on "
            f"{self.n_threads} {self.scheduler}, efficiency {self.parallel_efficiency:.0%}, "
            f"threads busy {self.thread_busy_fraction:.0%}, findings: {findings}>"
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-serialisable built-ins."""
        return {
            "wall_seconds": self.wall_seconds,
            "n_tasks": self.n_tasks,
            "n_threads": self.n_threads,
            "task_seconds": self.task_seconds,
            "parallel_efficiency": self.parallel_efficiency,
            "thread_busy_fraction": self.thread_busy_fraction,
            "cpu_seconds": self.cpu_seconds,
            "decode_seconds": self.decode_seconds,
            "peak_memory_bytes": self.peak_memory_bytes,
            "memory_increase_bytes": self.memory_increase_bytes,
            "mean_cpu_percent": self.mean_cpu_percent,
            "scheduler": self.scheduler,
            "findings": [
                {"kind": f.kind, "message": f.message, "evidence": dict(f.evidence)}
                for f in self.findings
            ],
            "tasks_by_function": {
                name: {"count": kind.count, "seconds": kind.seconds}
                for name, kind in self.tasks_by_function.items()
            },
        }

    def save_html(self, path: str | os.PathLike[str]) -> Path:
        """Save the bokeh timeline: a row per thread, tasks coloured by kind with a legend
        (hover: kind, duration, chunk), then CPU and memory; no browser is opened. On a
        Client: distributed's performance report (its profile page) of the cluster since
        the compute began, asked of the scheduler now: save it before the cluster runs
        other work, and before the Client is closed.

        The page is self-contained (BokehJS inlined, about 1 MB), so it opens
        offline. Needs bokeh (``pip install 'xzarrio[profile]'``).
        """
        _require("bokeh", "save_html draws with bokeh")
        if not self.profilers:
            raise InvalidArgumentError("this report holds no profiler data to draw")
        from bokeh.io import save
        from bokeh.resources import INLINE

        target = Path(path).absolute()
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.cluster_page is not None:
            target.write_text(self.cluster_page.html(), encoding="utf-8")
            return target
        # BokehJS inlined: the page draws without network (laptops offline, HPC nodes)
        layout = timeline.bokeh_layout(self.profilers)
        save(layout, filename=str(target), resources=INLINE, title="xzarrio profile")
        return target

    def save_figure(self, path: str | os.PathLike[str]) -> Path:
        """Save the timeline as a static picture for a paper or a notebook: PNG, SVG or PDF
        by the suffix of *path*. Drawn by matplotlib without a display.

        Needs matplotlib (``pip install 'xzarrio[profile]'``).
        """
        _require("matplotlib", "save_figure draws with matplotlib")
        if not self.profilers:
            raise InvalidArgumentError("this report holds no profiler data to draw")
        target = Path(path).absolute()
        if target.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise InvalidArgumentError(f"save_figure writes .png, .svg or .pdf, got {str(path)!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        return timeline.draw_figure(self.profilers, target)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{kind.count}</td><td>{kind.seconds:.3f}</td></tr>"
            for name, kind in self.tasks_by_function.items()
        )
        head = (
            f"<p>wall {self.wall_seconds:.3f} s · {self.n_tasks} tasks · {self.n_threads} threads"
            f" · efficiency {self.parallel_efficiency:.0%} (CPU) · threads busy "
            f"{self.thread_busy_fraction:.0%} · memory +"
            f"{html.escape(format_bytes(self.memory_increase_bytes))} (process peak "
            f"{html.escape(format_bytes(self.peak_memory_bytes))})</p>"
        )
        found = "".join(
            f"<li><b>{html.escape(f.kind)}</b>: {html.escape(f.message)}</li>"
            for f in self.findings
        )
        findings = f"<ul>{found}</ul>" if found else ""
        return (
            f"<div>{head}{findings}<table><thead><tr><th>task kind</th><th>count</th>"
            f"<th>seconds</th></tr></thead><tbody>{rows}</tbody></table></div>"
        )


def _require(package: str, what: str) -> None:
    try:
        __import__(package)
    except ImportError:
        raise MissingDependencyError(
            f"{what}, which is not installed: pip install 'xzarrio[profile]' "
            f"(or pip install {package})"
        ) from None


class Profiled(NamedTuple):
    """The computed object and the report of its compute: ``result, report = ...``."""

    result: Any
    report: ProfileReport


def summarise(
    wall: float, tasks: Sequence[Any], samples: Sequence[Any], *, cpu: float, decode: float,
    threads: int, scheduler: str, profilers: tuple[Any, ...], cluster_page: Any = None,
    machine_idle: float | None = None,
) -> ProfileReport:  # fmt: skip
    """The report of a compute from its *tasks* (records with ``key``, ``start_time``,
    ``end_time``, ``worker_id``, as dask's Profiler has them) and its resource *samples*
    (``time``, ``mem`` in MB, ``cpu`` in %), *cpu* seconds used by it and *decode*
    seconds of zarr's threads."""
    kinds: dict[str, list[float]] = {}
    for task in tasks:
        spent = kinds.setdefault(key_split(task.key), [0, 0.0])
        spent[0] += 1
        spent[1] += task.end_time - task.start_time
    task_seconds = sum(k[1] for k in kinds.values())
    capacity = wall * threads
    memory = [sample.mem for sample in samples]
    numbers = Measured(
        wall_seconds=wall,
        threads=threads,
        thread_busy_fraction=min(1.0, task_seconds / capacity) if capacity > 0 else 0.0,
        parallel_efficiency=min(1.0, cpu / capacity) if capacity > 0 else 0.0,
        task_seconds=task_seconds,
        decode_seconds=decode,
        kinds={name: (int(count), seconds) for name, (count, seconds) in kinds.items()},
        durations=[(key_split(task.key), task.end_time - task.start_time) for task in tasks],
        machine_idle_fraction=machine_idle,
    )
    return ProfileReport(
        wall_seconds=wall,
        n_tasks=len(tasks),
        n_threads=threads,
        task_seconds=task_seconds,
        parallel_efficiency=numbers.parallel_efficiency,
        thread_busy_fraction=numbers.thread_busy_fraction,
        cpu_seconds=cpu,
        decode_seconds=decode,
        peak_memory_bytes=int(max(memory) * 1e6) if memory else 0,
        memory_increase_bytes=int((max(memory) - memory[0]) * 1e6) if memory else 0,
        mean_cpu_percent=100 * cpu / wall if wall > 0 else 0.0,
        tasks_by_function={
            name: TaskKind(count=int(count), seconds=seconds)
            for name, (count, seconds) in sorted(kinds.items(), key=lambda kv: -kv[1][1])
        },
        findings=find(numbers),
        scheduler=scheduler,
        profilers=profilers,
        cluster_page=cluster_page,
    )


def _idle_since(before: Any) -> float | None:
    """The share of the machine's CPU time that was idle since *before* (``cpu_times``)."""
    after = psutil.cpu_times()
    total = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0) - getattr(before, "iowait", 0))
    return idle / total if total > 0 else None


#: the threads zarr works in: its event loop, and the pools its codecs run in
_ZARR_THREADS = ("zarr_", "asyncio_")


def zarr_cpu_seconds() -> float:
    """CPU time used so far by zarr's threads in this process: its event loop and the
    pool its codecs decode and encode in (``asyncio.to_thread``)."""
    import psutil

    names = {t.native_id: t.name for t in threading.enumerate()}
    try:
        threads = psutil.Process().threads()
    except psutil.Error:
        return 0.0
    return sum(
        t.user_time + t.system_time
        for t in threads
        if names.get(t.id, "").startswith(_ZARR_THREADS)
    )


def profile(
    obj: Any,
    func: Callable[[Any], Any] | None = None,
    *,
    num_workers: int | None = None,
    scheduler: Any = None,
    dt: float = 0.1,
) -> Profiled:
    """Compute ``func(obj)`` (or *obj*) under dask's profilers; see ``.zio.profile``."""
    chosen = resolve_scheduler(scheduler)
    workers = resolve_num_workers(num_workers)
    if not (isinstance(dt, int | float) and dt > 0):
        raise InvalidArgumentError(f"dt must be a number of seconds > 0, got {dt!r}")
    target = func(obj) if func is not None else obj
    if is_distributed_client(chosen):
        if num_workers is not None:
            raise InvalidArgumentError(
                f"num_workers={num_workers!r} sets local threads, but this compute runs on "
                "a distributed.Client (scheduler=None follows dask's rule: the active "
                "Client); pass scheduler='threads' to profile it here, or leave num_workers "
                "out"
            )
        from .clusterprofile import profile_on_client

        return profile_on_client(chosen, target, dt)
    scheduler = str(chosen)
    kwargs: dict[str, Any] = {"scheduler": scheduler}
    if scheduler != "synchronous":
        kwargs["num_workers"] = workers
    resources = _SampledResources(dt=dt, children=scheduler == "processes")
    with Profiler() as p, resources as r, CacheProfiler() as c:
        decoded, machine = zarr_cpu_seconds(), psutil.cpu_times()
        start = default_timer()
        (result,) = dask.compute(target, **kwargs)
        wall = default_timer() - start
        decoded = zarr_cpu_seconds() - decoded
    report = summarise(
        wall, p.results, r.results, cpu=max(0.0, r.cpu_seconds - r.own_cpu_seconds),
        decode=decoded, threads=1 if scheduler == "synchronous" else workers,
        scheduler=scheduler, profilers=(p, r, c), machine_idle=_idle_since(machine),
    )  # fmt: skip
    return Profiled(result, report)


def reduce(
    obj: xr.Dataset | xr.DataArray,
    how: str | Callable[..., Any],
    dim: Hashable | list[Hashable] | None = None,
    *,
    transform: Callable[[Any], Any] | None = None,
    num_workers: int | None = None,
    scheduler: Any = None,
    dt: float = 0.1,
) -> Profiled:
    """Apply *transform* element-wise, reduce with *how* over *dim*, profiled."""
    if isinstance(how, str):
        if how not in REDUCTIONS:
            raise InvalidArgumentError(
                f"unknown reduction {how!r}; expected one of {list(REDUCTIONS)} or a callable "
                "f(array, axis=...)"
            )
    elif not callable(how):
        raise InvalidArgumentError(f"how must be a reduction name or a callable, got {how!r}")
    dims: list[Hashable] = (
        [] if dim is None else list(dim) if isinstance(dim, list | tuple) else [dim]
    )
    missing = [d for d in dims if d not in obj.dims]
    if missing:
        raise InvalidArgumentError(
            f"cannot reduce over {missing}: the object's dimensions are {list(obj.dims)}"
        )

    def compute_this(o: Any) -> Any:
        values = transform(o) if transform is not None else o
        if isinstance(how, str):
            return getattr(values, how)(dim=dim)
        return values.reduce(how, dim=dim)

    return profile(obj, compute_this, num_workers=num_workers, scheduler=scheduler, dt=dt)


def graph(
    obj: Any,
    func: Callable[[Any], Any] | None = None,
    *,
    filename: str | os.PathLike[str] = "graph.svg",
) -> Path:
    """Draw the task graph of ``func(obj)`` (or *obj*) with graphviz; see ``.zio.graph``."""
    target = func(obj) if func is not None else obj
    if not dask.is_dask_collection(target):
        raise InvalidArgumentError(
            "nothing to draw: the object holds no dask graph (it is in memory); open it with "
            "xzarrio.open_zarr or .chunk() it first"
        )
    try:
        import graphviz  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "drawing the task graph needs the graphviz Python package: "
            "pip install graphviz (and the Graphviz 'dot' program)"
        ) from None
    path = Path(filename).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".") or "svg"
    try:
        dask.visualize(target, filename=str(path.with_suffix("")), format=fmt)
    except Exception as error:
        if type(error).__name__ == "ExecutableNotFound":
            raise MissingDependencyError(
                "drawing the task graph needs the Graphviz 'dot' program, which is not on PATH: "
                "install Graphviz (apt install graphviz, brew install graphviz or "
                "conda install graphviz)"
            ) from None
        raise
    return path
