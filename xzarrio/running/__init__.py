"""How a call runs: the layer under writing, integrity, rechunking and profiling.

- :mod:`~xzarrio.running.schedulers`: which scheduler a call uses and whether
  it stays in this process, whether its workers reach its stores, how many
  workers it has;
- :mod:`~xzarrio.running.tasks`: its own pool, running its tasks and waiting
  for every one, the progress bar;
- :mod:`~xzarrio.running.gate`: the count of its store calls in flight, and
  the gate that closes to new ones after a failure.
"""

from __future__ import annotations

from .gate import Gate, RemoteGate, WriteAborted
from .schedulers import (
    SCHEDULERS,
    active_client,
    check_reaches,
    choose_scheduler,
    is_distributed_client,
    resolve_scheduler,
    stays_local,
    worker_count,
)
from .tasks import compute, progress_bar, run_tasks

__all__ = [
    "SCHEDULERS",
    "Gate",
    "RemoteGate",
    "WriteAborted",
    "active_client",
    "check_reaches",
    "choose_scheduler",
    "compute",
    "is_distributed_client",
    "progress_bar",
    "resolve_scheduler",
    "run_tasks",
    "stays_local",
    "worker_count",
]
