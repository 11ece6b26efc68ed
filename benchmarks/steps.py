"""Where the time of a write goes: the steps of xzarrio's write path, each timed.

:func:`step_clock` times the steps of every ``.zio.to_zarr`` call made inside
it by wrapping the write path's own functions for the while. It reads
internals, not the public API: against an xzarrio whose write path has other
names (an older one, for a before/after comparison) it times nothing and the
breakdown is left out.

The steps, in the order a write takes them:

* ``plan``: the look at the target, the checks, the encodings
  (``plan_write``);
* ``begin``: the transaction opened (the lock, the journal), the checks made
  again under it;
* ``metadata``: xarray's ``to_zarr(compute=False)``: the arrays' metadata,
  and the graph of the chunk writes;
* ``chunks``: the chunk writes run;
* ``manifests``, ``stamp``, ``commit``, ``report``: the steps after the data;
* ``other``: the rest of the call (the accessor, the request, the rest of
  the end: the generations marked, the locks let go).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

STEP_NAMES = (
    "plan",
    "begin",
    "metadata",
    "chunks",
    "manifests",
    "stamp",
    "commit",
    "report",
    "other",
)


class StepClock:
    """Seconds per step of the calls timed, one list entry per call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, float]] = []
        self._current: dict[str, float] = {}

    def add(self, step: str, seconds: float) -> None:
        self._current[step] = self._current.get(step, 0.0) + seconds

    def call_ended(self, total: float) -> None:
        steps = dict(self._current)
        steps["chunks"] = steps.pop("run", 0.0) - steps.pop("end", 0.0)
        steps["other"] = total - sum(steps.values())
        self.calls.append({step: steps.get(step, 0.0) for step in STEP_NAMES})
        self._current = {}

    def medians_ms(self) -> dict[str, float]:
        """The median milliseconds of each step over the calls timed."""
        return (
            {s: 1e3 * _median([c[s] for c in self.calls]) for s in STEP_NAMES} if self.calls else {}
        )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _timed(clock: StepClock, step: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock.add(step, time.perf_counter() - start)

    return wrapper


@contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


@contextmanager
def step_clock() -> Iterator[StepClock | None]:
    """Time the steps of the writes made inside; None where the write path differs."""
    try:
        import xzarrio.writing as writing
        from xzarrio.writing import execution, transactions

        Write = execution.Write
        commits = [(kind, "commit") for kind in transactions.Transaction.__subclasses__()]
        wrapped: list[tuple[Any, str, str]] = [
            (writing, "plan_write", "plan"),
            (Write, "begin", "begin"),
            (Write, "build", "metadata"),
            (Write, "run", "run"),
            (Write, "end", "end"),
            (execution, "record_manifests", "manifests"),
            (transactions, "stamp_in_place", "stamp"),
            (execution, "report_of", "report"),
            *((kind, name, "commit") for kind, name in commits),
        ]
        originals = [getattr(owner, name) for owner, name, _ in wrapped]
        accessor = writing.to_zarr
    except (ImportError, AttributeError):
        yield None
        return
    clock = StepClock()

    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return accessor(*args, **kwargs)
        finally:
            clock.call_ended(time.perf_counter() - start)

    with ExitStack() as patches:
        for (owner, name, step), original in zip(wrapped, originals, strict=True):
            patches.enter_context(_patched(owner, name, _timed(clock, step, original)))
        patches.enter_context(_patched(writing, "to_zarr", call))
        yield clock
