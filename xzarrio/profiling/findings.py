"""What limits a profiled computation, and what to change: the report's ``findings``.

Each rule reads numbers the profile measured and says, with those numbers,
what a scientist can change: chunks, threads against processes, a codec, a
function that releases the GIL. A rule that cannot be measured (no task ran,
one thread) says nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FINDING_KINDS", "Finding", "Measured", "find"]

#: the kinds of finding, in the order the report lists them
FINDING_KINDS = ("gil-bound", "waiting", "too-few-chunks", "tiny-tasks", "decode-bound")

#: a task kind whose tasks take this share of the wall time can use every thread
_HEAVY_SHARE = 0.2
#: task kinds that are one task whatever the chunks: dask assembling the result
_ONE_BY_DESIGN = ("finalize",)
#: below this median task time, dask's own overhead per task dominates
_TINY_SECONDS = 1e-3
#: below this wall time, fixed costs (the graph's optimisation, starting the pool)
#: outweigh the tasks, and shares of CPU and of busy time say nothing of them
_SHORT_SECONDS = 0.2


@dataclass(frozen=True)
class Finding:
    """One thing that limits the computation.

    ``kind`` is one of ``"gil-bound"``, ``"waiting"``, ``"too-few-chunks"``,
    ``"tiny-tasks"`` and ``"decode-bound"``; ``message`` says what to change;
    ``evidence`` holds the measured numbers behind it.
    """

    kind: str
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class Measured:
    """The numbers the rules read."""

    wall_seconds: float
    threads: int
    thread_busy_fraction: float
    parallel_efficiency: float
    task_seconds: float
    decode_seconds: float
    #: task kind → (count, summed seconds)
    kinds: Mapping[str, tuple[int, float]]
    #: every task's kind and duration
    durations: Sequence[tuple[str, float]]
    #: the share of the machine's CPU left idle during the compute (None: not known,
    #: on a cluster)
    machine_idle_fraction: float | None = None


def find(m: Measured) -> tuple[Finding, ...]:
    """Every finding the numbers *m* support, in the order of :data:`FINDING_KINDS`.

    Tiny tasks hold the GIL in dask's own scheduling code: where they are
    found, the GIL is not said to be the tasks' own.

    Examples
    --------
    Two threads busy 95 % of a second that used half their CPU, about one core:

    >>> numbers = Measured(
    ...     wall_seconds=1.0, threads=2, thread_busy_fraction=0.95, parallel_efficiency=0.5,
    ...     task_seconds=1.9, decode_seconds=0.1, kinds={"mean_chunk": (8, 1.9)},
    ...     durations=[("mean_chunk", 0.24)] * 8,
    ... )
    >>> [f.kind for f in find(numbers)]
    ['gil-bound']
    """
    tiny = _tiny_tasks(m)
    found = [
        None if tiny else _gil_bound(m), None if tiny else _waiting(m), *_too_few_chunks(m),
        tiny, _decode_bound(m),
    ]  # fmt: skip
    return tuple(f for f in found if f is not None)


def _busy_and_used(m: Measured) -> tuple[float, float] | None:
    """The cores' worth of threads that had a task, and the cores' worth of CPU used, on
    average; None where the compute is too short or too narrow to tell."""
    if m.threads < 2 or m.wall_seconds < _SHORT_SECONDS:
        return None
    busy = m.thread_busy_fraction * m.threads
    used = m.parallel_efficiency * m.threads
    if busy < 1.0 or used >= 0.75 * busy:
        return None
    if m.machine_idle_fraction is not None and m.machine_idle_fraction < 0.25:
        return None  # the CPU went to other processes: the machine, not the tasks
    return busy, used


def _gil_bound(m: Measured) -> Finding | None:
    """Threads busy, CPU idle, and the process at about one core: one thread runs at a
    time, the others wait for the GIL."""
    seen = _busy_and_used(m)
    if seen is None or not 0.6 <= seen[1] <= 1.4 or m.parallel_efficiency >= 0.65:
        return None
    busy, used = m.thread_busy_fraction, m.parallel_efficiency
    return Finding(
        "gil-bound",
        f"the {m.threads} threads were busy {busy:.0%} of the time but used {used:.0%} of "
        f"their CPU, about one core ({seen[1]:.2f}): the tasks hold Python's GIL and run one "
        "at a time. Use a per-block function that releases it (numpy's ufuncs, numba's "
        "@njit(nogil=True), through xr.apply_ufunc(..., dask='parallelized')), or run on "
        "processes (scheduler='processes', or a distributed.Client with several worker "
        "processes)",
        {
            "threads": m.threads,
            "thread_busy_fraction": busy,
            "parallel_efficiency": used,
            "cores_used": seen[1],
            "machine_idle_fraction": m.machine_idle_fraction,
        },
    )


def _waiting(m: Measured) -> Finding | None:
    """Threads busy, CPU idle, the process well under one core: the tasks wait for
    something outside the CPU (storage, the network, a sleep, a lock)."""
    seen = _busy_and_used(m)
    if seen is None or seen[1] >= 0.6:
        return None
    return Finding(
        "waiting",
        f"the threads had tasks {m.thread_busy_fraction:.0%} of the time but the process "
        f"used {seen[1]:.2f} cores: the tasks wait, for storage, the network or a lock. More "
        "threads overlap the waits (num_workers, or more workers on a Client); fewer, "
        "larger reads wait less often (larger chunks)",
        {
            "threads": m.threads,
            "thread_busy_fraction": m.thread_busy_fraction,
            "cores_used": seen[1],
            "machine_idle_fraction": m.machine_idle_fraction,
        },
    )


def _too_few_chunks(m: Measured) -> list[Finding]:
    """A kind of task that takes much of the wall time, with fewer tasks than threads."""
    found: list[Finding] = []
    if m.threads < 2 or m.wall_seconds < _SHORT_SECONDS:
        return found
    for kind, (count, seconds) in m.kinds.items():
        share = seconds / m.wall_seconds
        if count >= m.threads or share < _HEAVY_SHARE or kind.startswith(_ONE_BY_DESIGN):
            continue
        found.append(
            Finding(
                "too-few-chunks",
                f"{kind!r} ran {count} task{'s' if count > 1 else ''} on {m.threads} threads "
                f"and took {seconds:.3f} s ({share:.0%} of the wall time): "
                f"{m.threads - count} thread{'s' if m.threads - count > 1 else ''} had none. "
                f"Split the data into at least {m.threads} chunks along the dims this step "
                "works on (.chunk(...), or open the store with smaller chunks)",
                {"task_kind": kind, "tasks": count, "threads": m.threads, "seconds": seconds},
            )
        )
    return found


def _tiny_tasks(m: Measured) -> Finding | None:
    """Tasks so short that dask's overhead per task dominates.

    The median is over the tasks of the kinds that do the work (a tenth of the
    task time or more), not over the many trivial ones every graph has.
    """
    working = {kind for kind, (_, seconds) in m.kinds.items() if seconds >= 0.1 * m.task_seconds}
    durations = [d for kind, d in m.durations if kind in working]
    if len(durations) < 2 * max(m.threads, 1):
        return None
    median = statistics.median(durations)
    if median >= _TINY_SECONDS:
        return None
    return Finding(
        "tiny-tasks",
        f"the median task took {median * 1e3:.3f} ms over {len(durations)} tasks: the "
        "scheduler's own work per task (in Python, holding the GIL) outweighs them. Use "
        "larger chunks, so that each task does at least tens of milliseconds of work",
        {"median_task_seconds": median, "tasks": len(durations)},
    )


def _decode_bound(m: Measured) -> Finding | None:
    """Most of the tasks' time spent in zarr, reading and decoding chunks (the CPU of
    the threads zarr's codec pipeline runs in, which read the chunks too)."""
    if m.task_seconds <= 0 or m.decode_seconds <= 0.5 * m.task_seconds:
        return None
    share = m.decode_seconds / m.task_seconds
    return Finding(
        "decode-bound",
        f"zarr's threads used {m.decode_seconds:.3f} s of CPU reading and decoding chunks, "
        f"{share:.0%} of the summed task time: the computation mostly waits for chunks. "
        "Store the data with a faster codec (compressor='lz4', or zstd at a lower level) "
        "or read fewer bytes (select the variables and region first)",
        {"decode_seconds": m.decode_seconds, "task_seconds": m.task_seconds},
    )
