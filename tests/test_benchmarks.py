"""The performance suite runs end to end (``--quick``), as a user runs it: no timing is asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = {
    "write", "read", "reduce", "reopen", "copy", "rechunk", "integrity", "scaling", "s3", "fixed",
    "size",
}  # fmt: skip

pytestmark = pytest.mark.slow


def _numbers(value: object) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def _meets(value: float, goal: str) -> bool:
    """Whether *value* meets *goal*, a bound as the summary states it: ``">= 15"``, ``"<= 1.1"``."""
    op, bound = goal.split()
    assert op in (">=", "<="), goal
    return value >= float(bound) if op == ">=" else value <= float(bound)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--dir", str(out / "work"),
         "--json", str(out / "results.json")],
        capture_output=True, text=True, timeout=600, cwd=out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads((out / "results.json").read_text())


def test_every_section_runs_and_reports(quick_run: tuple) -> None:
    proc, results = quick_run
    assert set(results["sections"]) == SECTIONS
    for name, section in results["sections"].items():
        assert section["tables"], name
        for t in section["tables"]:
            assert t["rows"] and all(len(r) == len(t["columns"]) for r in t["rows"]), t["title"]
    assert "summary" in proc.stdout and "results written to" in proc.stdout


def test_every_goal_has_a_finite_figure(quick_run: tuple) -> None:
    _proc, results = quick_run
    goals = results["summary"]
    for name in (
        "zio vs xarray same codec, faster path (seed)",
        "zio vs h5py gzip-4 (seed)",
        "write ÷ limit, zstd (seed)",
        "full read: zarr-python's time ÷ ours (seed)",
        "profiled ÷ plain reduce",
        "reduce from store vs numpy in memory",
        "reopen time, 100x store ÷ 1x",
        "copy peak RSS, 4x store ÷ 1x",
        "write with checksums ÷ without (seed chunks)",
        "verify ÷ plain read",
        "default codec stored ÷ netCDF4 zlib-4 shuffle (smooth)",
        "keepbits auto: largest error, halves of the last kept bit",
        "compressor auto stored ÷ default, worst field",
    ):
        value, goal, met = goals[name]["value"], goals[name]["goal"], goals[name]["met"]
        assert math.isfinite(value) and value > 0, name
        assert met is _meets(value, goal), (name, value, goal, met)
    numbers = _numbers(results["sections"])
    assert numbers and all(math.isfinite(n) and n >= 0 for n in numbers)


def test_the_s3_section_compares_fsspec_and_obstore(quick_run: tuple) -> None:
    """Both clients (obstore is in the test extra), and each write's requests counted:
    ours make more than xarray's (the journal, the stamp), never fewer."""
    _proc, results = quick_run
    figures = results["sections"]["s3"]["figures"]
    assert figures["clients"] == ["fsspec", "obstore"]
    requests = figures["requests"]
    for client in figures["clients"]:
        assert requests[f"zio append ({client})"] > requests[f"xarray append ({client})"] > 0
    for name in ("zio_new", "zio_replace", "zio_append"):
        assert math.isfinite(figures[f"obstore_over_fsspec_{name}"])


def test_the_environment_is_recorded(quick_run: tuple) -> None:
    _proc, results = quick_run
    env = results["environment"]
    for key in ("python", "cpus", "zarr", "xarray", "dask", "numcodecs", "h5py", "netCDF4"):
        assert env[key], key
    assert results["quick"] is True


def test_unknown_section_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--only", "write,nope"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--only takes a comma-separated list" in proc.stderr
    assert not (tmp_path / "xzarrio-bench.json").exists()
