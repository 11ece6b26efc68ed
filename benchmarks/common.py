"""What every benchmark of the suite shares: workloads, timing, tables, the machine.

The suite's entry point is ``run.py``; each ``bench_*.py`` module is one section
with a ``run(cfg) -> dict`` function that prints its tables as it goes and
returns its figures for the JSON file.
"""

from __future__ import annotations

import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xzarrio.codecs import quiet_spec_notes

#: the seed workload: 8000 x 7500 float32, stored chunks of 2000 rows
FULL_SHAPE = (8000, 7500)
FULL_CHUNK_ROWS = 2000
#: --quick: the same layout, 4 chunks of 250 x 750
QUICK_SHAPE = (1000, 750)
QUICK_CHUNK_ROWS = 250


@dataclass(frozen=True)
class Config:
    """How the suite runs: sizes, rounds, where to write."""

    quick: bool
    repeats: int
    workdir: Path
    seed: int = 42
    cores: int = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )

    @property
    def shape(self) -> tuple[int, int]:
        return QUICK_SHAPE if self.quick else FULL_SHAPE

    @property
    def chunk_rows(self) -> int:
        return QUICK_CHUNK_ROWS if self.quick else FULL_CHUNK_ROWS

    @property
    def chunk_shape(self) -> tuple[int, int]:
        return (self.chunk_rows, self.shape[1])

    def path(self, name: str) -> Path:
        """A fresh path under the work directory (anything there is removed first)."""
        p = self.workdir / name
        remove(p)
        return p


# --------------------------------------------------------------------------- workloads


def seed_field(shape: tuple[int, int], seed: int) -> np.ndarray:
    """The seed workload: float32 drawn from normal(2000, 1000) (noise: barely compressible)."""
    return np.random.default_rng(seed).normal(2000.0, 1000.0, size=shape).astype(np.float32)


def smooth_field(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A smooth field as climate fields are: a sum of sines plus small noise, float32.

    Large-scale waves in both directions (a few periods over the domain) and a
    noise of standard deviation 0.1 on values of about 2000 ± 1100.
    """
    rows, cols = shape
    y = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, cols, dtype=np.float32)[None, :]
    two_pi = np.float32(2 * np.pi)
    field = np.float32(2000.0) + np.float32(800.0) * np.sin(two_pi * 3 * y) * np.cos(two_pi * 2 * x)
    field += np.float32(300.0) * np.sin(two_pi * (5 * x + 7 * y))
    noise = np.random.default_rng(seed).standard_normal(size=shape, dtype=np.float32)
    field += np.float32(0.1) * noise
    return np.ascontiguousarray(field, dtype=np.float32)


WORKLOADS: dict[str, Callable[[tuple[int, int], int], np.ndarray]] = {
    "seed": seed_field,
    "smooth": smooth_field,
}


# --------------------------------------------------------------------------- files


def disk_bytes(path: Path) -> int:
    """Sum of the sizes of all files under *path* (or of the file *path*)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def remove(path: Path) -> None:
    """Delete a store directory or a file, if there."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def flush() -> None:
    """Write back dirty pages (untimed), so that no run pays for the one before."""
    if hasattr(os, "sync"):
        os.sync()


@contextmanager
def quiet() -> Iterator[None]:
    """Silence zarr's notes that say nothing about what is measured (see
    :func:`xzarrio.codecs.quiet_spec_notes`): the other writers hear them too."""
    with quiet_spec_notes():
        yield


# --------------------------------------------------------------------------- peers


def installed(module: str) -> bool:
    """Whether *module* imports: a section's needs, and the peers measured where they
    are installed (``pip install tensorstore zarrs``), never dependencies."""
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@contextmanager
def zarrs_pipeline() -> Iterator[None]:
    """zarr-python with zarrs' codec pipeline (Rust) for the while: chunks encoded,
    decoded and read or written by zarrs, the arrays and metadata zarr-python's."""
    import zarr

    with zarr.config.set({"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"}):
        yield


def tensorstore_spec(array: Path) -> dict[str, Any]:
    """tensorstore's ``zarr3`` driver on the zarr 3 array folder *array*."""
    return {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(array)}}


# --------------------------------------------------------------------------- timing


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call of *fn* (after a garbage collection, untimed)."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def round_orders(n: int) -> list[list[int]]:
    """A balanced Latin square (Williams design) of *n* contenders.

    Over *n* rounds (2 *n* for odd *n*) every contender takes every position
    equally often and directly follows every other one equally often, so that
    none always runs right after the same one.
    """
    first = [0]
    for k in range(1, n):
        first.append((k + 1) // 2 if k % 2 else n - k // 2)
    rows = [[(i + r) % n for i in first] for r in range(n)]
    if n % 2:
        rows += [row[::-1] for row in rows]
    return rows


def interleaved(
    runs: dict[str, Callable[[], Any]],
    repeats: int,
    *,
    warmup: int = 1,
    after: Callable[[str], Any] | None = None,
) -> dict[str, list[float]]:
    """Time every run once per round, the order along a balanced Latin square.

    *after(name)* is called (untimed) after each run: cleaning up, flushing.
    The warm-up rounds are not recorded.
    """
    names = list(runs)
    orders = round_orders(len(names))
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + repeats):
        order = orders[max(r - warmup, 0) % len(orders)]
        for i in order:
            name = names[i]
            elapsed = timed(runs[name])
            if after is not None:
                after(name)
            if r >= warmup:
                seconds[name].append(elapsed)
    return seconds


def paired_ratios(
    base: Callable[[], Any], other: Callable[[], Any], repeats: int
) -> tuple[list[float], list[float], list[float]]:
    """Time *other* and *base* as adjacent pairs, the order alternating.

    Returns the seconds of *base*, of *other*, and each pair's ratio other ÷ base:
    the machine's slow drifts cancel in a pair's ratio.
    """
    a_s: list[float] = []
    b_s: list[float] = []
    ratios: list[float] = []
    for r in range(repeats):
        if r % 2 == 0:
            a, b = timed(base), timed(other)
        else:
            b, a = timed(other), timed(base)
        a_s.append(a)
        b_s.append(b)
        ratios.append(b / a)
    return a_s, b_s, ratios


def on_stores(stores: dict[str, Path], measure: Callable[[], Any]) -> tuple[Any, dict[str, int]]:
    """What *measure* returns, and the bytes each of *stores* takes on disk; the stores
    are removed afterwards, whatever happens."""
    try:
        measured = measure()
        return measured, {name: disk_bytes(path) for name, path in stores.items()}
    finally:
        for path in stores.values():
            remove(path)


#: the command line, run as ``python -c CLI VERB ARGS...``
CLI = "import sys; from xzarrio.cli import main; sys.exit(main(sys.argv[1:]))"
#: what every command pays before its first chunk: the import floor
IMPORTS = "import xzarrio, xarray, zarr, dask.array, numpy"


def peak_rounds(
    stores: Mapping[str, Path], dst: Path, repeats: int,
    commands: Callable[[str], dict[str, list[str]]], check: Callable[[str, str], None],
) -> dict[str, list[tuple[int, float]]]:  # fmt: skip
    """Peak RSS and wall seconds (:func:`child_peak_rss`) of every command that
    *commands* gives for each store, by its key, and of the import floor ("floor"),
    round after round.

    Each round reverses the order of the stores and of the commands; the first
    round checks each output (*check(store name, key)*); *dst*, where the commands
    write, is removed after each, with dirty pages written back.
    """
    runs: dict[str, list[tuple[int, float]]] = {"floor": []}
    try:
        for r in range(repeats):
            runs["floor"].append(child_peak_rss([sys.executable, "-c", IMPORTS]))
            names = list(stores) if r % 2 == 0 else list(reversed(stores))
            for name in names:
                made = commands(name)
                for key in made if r % 2 == 0 else reversed(list(made)):
                    rss, seconds = child_peak_rss(made[key])
                    runs.setdefault(key, []).append((rss, seconds))
                    shown = f"{rss / 2**20:.0f} MiB, {seconds:.1f} s"
                    print(f"  round {r + 1}, {key}: {shown}", flush=True)
                    if r == 0:
                        check(name, key)
                    remove(dst)
                    flush()
    finally:
        remove(dst)
    return runs


def run_medians(
    runs: dict[str, list[tuple[int, float]]],
) -> tuple[dict[str, float], dict[str, float]]:
    """Per name, the median peak resident memory (MiB) and wall seconds of its runs, as
    :func:`child_peak_rss` gives them."""
    peak = {name: median([rss for rss, _ in r]) / 2**20 for name, r in runs.items()}
    wall = {name: median([s for _, s in r]) for name, r in runs.items()}
    return peak, wall


#: a launcher that imports nothing heavy: it starts argv, waits for it, prints
#: its peak resident KiB (``wait4``'s ``ru_maxrss``) and wall seconds
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
quiet = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], dict(os.environ), file_actions=quiet)
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, time.perf_counter() - start)
"""


def child_peak_rss(argv: Sequence[str]) -> tuple[int, float]:
    """Run *argv* as a child process; its peak resident memory (bytes) and wall seconds.

    The peak is the kernel's own record for that process (``wait4``), not a
    sample. Linux carries a process's high-water mark into the program it
    execs, so *argv* is started by a small launcher process: started from this
    one, it would report at least this process's own peak.
    """
    with tempfile.TemporaryFile() as err:
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, *argv],
            stdout=subprocess.PIPE, stderr=err, text=True, check=False,
        )  # fmt: skip
        err.seek(0)
        message = err.read().decode(errors="replace").strip()[-2000:]
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) != 3 or fields[0] != "0":
        raise RuntimeError(f"{' '.join(argv)} failed: {message}")
    return int(fields[1]) * 1024, float(fields[2])  # Linux reports KiB


# --------------------------------------------------------------------------- output


def cell(value: Any) -> str:
    """One figure as the tables print it (the docs render the JSON's tables with it too)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}"
    return str(value)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Print *rows* as an aligned text table under *title*; return it for the JSON file.

    Floats are printed with 3 significant decimals (ratios) or as given by
    their magnitude; ``None`` prints as ``-``.
    """

    text = [[cell(v) for v in row] for row in rows]
    widths = [
        max(len(str(c)), *(len(r[i]) for r in text)) if text else len(str(c))
        for i, c in enumerate(columns)
    ]
    print()
    print(title)
    head = "  ".join(
        str(c).ljust(w) if i == 0 else str(c).rjust(w)
        for i, (c, w) in enumerate(zip(columns, widths, strict=True))
    )
    print(head)
    print("-" * len(head))
    for r in text:
        print(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    sys.stdout.flush()
    return {"title": title, "columns": list(columns), "rows": [list(r) for r in rows]}


def environment() -> dict[str, Any]:
    """The machine and the versions the figures were measured with."""
    import dask
    import xarray as xr
    import zarr

    import xzarrio

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "numpy": np.__version__,
        "xarray": xr.__version__,
        "zarr": zarr.__version__,
        "dask": dask.__version__,
        "xzarrio": xzarrio.__version__,
    }
    for module in ("numcodecs", "h5py", "netCDF4"):
        try:
            env[module] = __import__(module).__version__
        except ImportError:
            env[module] = None
    try:
        import h5py

        env["hdf5"] = h5py.version.hdf5_version
    except ImportError:
        pass
    return env


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
