"""The report of a profiled compute: :class:`ProfileReport`, and what both runs share.

A run on the local schedulers (:mod:`.local`) and a run on a ``distributed.Client``
(:mod:`.cluster`) each collect tasks and resource samples their own way, then hand
them to :func:`summarise`, which sums them up, asks the rules of :mod:`.findings`
what limits the compute, and returns the report.
"""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from dask.utils import format_bytes, key_split

from ..errors import InvalidArgumentError, MissingDependencyError
from ..seams import ZARR_THREAD_PREFIXES
from . import timeline
from .findings import Finding, Measured, find

__all__ = ["ProfileReport", "Profiled", "TaskKind", "summarise", "zarr_cpu_seconds"]


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


def zarr_cpu_seconds() -> float:
    """CPU time used so far by zarr's threads in this process: its event loop and the
    pool its codecs decode and encode in (``asyncio.to_thread``)."""
    import psutil

    names = {t.native_id: t.name for t in threading.enumerate()}
    try:
        threads = psutil.Process().threads()
    except psutil.Error:
        return 0.0
    seconds: float = sum(
        t.user_time + t.system_time
        for t in threads
        if names.get(t.id, "").startswith(ZARR_THREAD_PREFIXES)
    )
    return seconds
