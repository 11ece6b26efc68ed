"""Who is writing, and whether that writer is still alive.

A writer is named by its host, its process id and the time that process
started (a pid reused by another process has another start time). On its own
host that is checked directly; from another host only a lease can tell, a
time until which the writer promises to be alive and which it keeps moving
forward while it writes (object stores, where writers share no machine).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import psutil

__all__ = ["HOST", "LEASE_SECONDS", "process_started", "writer_alive", "writer_record"]

#: this machine's name, as records and staging names carry it
HOST = socket.gethostname()

#: how long a lease lasts unless refreshed; writers refresh it every third of that
LEASE_SECONDS = 60.0


def process_started(pid: int) -> float | None:
    """When process *pid* of this machine started, or None if there is none."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


_STARTED = process_started(os.getpid())


def writer_record(*, lease: bool = False) -> dict[str, Any]:
    """The record that names this process as a writer (with a lease, for object stores)."""
    record: dict[str, Any] = {"host": HOST, "pid": os.getpid(), "pid_started": _STARTED}
    if lease:
        record["expires"] = time.time() + LEASE_SECONDS
    return record


def writer_alive(record: dict[str, Any]) -> bool:
    """Whether the writer *record* names is still running.

    On this host: its process, with the same start time. Elsewhere: its lease,
    if it has one; a writer on another host without a lease cannot be checked
    and counts as gone.
    """
    if record.get("host") == HOST:
        started = process_started(int(record["pid"]))
        recorded = record.get("pid_started")
        return started is not None and (recorded is None or abs(started - recorded) < 1.0)
    expires = record.get("expires")
    return expires is not None and float(expires) > time.time()
