"""Whether a writer is still alive: its process id, checked with that process's start time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xzarrio

from .conftest import fake_journal, series


def test_a_reused_pid_is_not_taken_for_a_live_writer(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(np.arange(4.0)).zio.to_zarr(path)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as stranger:
        try:
            fake_journal(path, stranger.pid, started=12345.0)  # the writer started long ago
            with pytest.raises(xzarrio.errors.InterruptedWriteError, match="was interrupted"):
                xzarrio.open_zarr(path)
            assert xzarrio.repair(path) == ["append along 't' started at 2026-01-01T00:00:00+00:00"]
        finally:
            stranger.kill()
    xzarrio.open_zarr(path)
