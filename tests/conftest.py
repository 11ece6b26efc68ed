"""Shared fixtures and helpers: a small dataset, its chunked twin, disk snapshots, short
series along ``t``, and the journal a dead writer left."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
import xarray as xr

import xzarrio  # noqa: F401  (registers .zio)
from xzarrio import journal
from xzarrio.atomic import STAGING_MARK
from xzarrio.journal import GENERATION_KEY

PROVENANCE_KEYS = ("history", "creation_date", "gmt_timestamp", "date_modified")


def without_provenance(ds: xr.Dataset) -> xr.Dataset:
    """*ds* with the provenance attributes removed, for identity checks."""
    out = ds.copy(deep=False)
    out.attrs = {k: v for k, v in ds.attrs.items() if k not in PROVENANCE_KEYS}
    return out


def assert_same_data(stored: xr.Dataset, original: xr.Dataset) -> None:
    """Identical but for the provenance attributes (which a write adds)."""
    xr.testing.assert_identical(
        without_provenance(stored).load(), without_provenance(original).load()
    )


def snapshot(root: Path) -> dict[str, str]:
    """Every file under *root* (relative path → sha256): what 'unchanged on disk' means.

    Arrays' generation records are left out: a write that began changes them for
    good, rolled back or not, so that readers know it may have changed the array.
    """
    result = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if is_generation_record(str(path)):
                continue
            result[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        if not files and folder != str(root):
            result[str(Path(folder).relative_to(root)) + "/"] = "dir"
    return result


def is_generation_record(key: str) -> bool:
    """Whether *key* (a path or an object key) is an array's generation record."""
    return key.replace(os.sep, "/").endswith("/" + GENERATION_KEY)


def disk_bytes(root: Path) -> int:
    """Bytes of all files under *root*."""
    return sum((Path(f) / n).stat().st_size for f, _, names in os.walk(root) for n in names)


def staging_left(folder: Path) -> list[str]:
    """The staging folders of writes left in *folder*."""
    return [p.name for p in folder.iterdir() if STAGING_MARK in p.name]


def series(values: np.ndarray, **coords: np.ndarray) -> xr.Dataset:
    """``v`` holding *values* along ``t``, with *coords* along ``t``."""
    return xr.Dataset({"v": ("t", values)}, coords={k: ("t", v) for k, v in coords.items()})


def steps(n: int, start: int = 0, **extra: np.ndarray) -> xr.Dataset:
    """*n* steps of ``v`` along ``t`` numbered from *start*, and the *extra* variables."""
    return xr.Dataset(
        {
            "v": ("t", np.arange(start, start + n, dtype="f8")),
            **{k: ("t", v) for k, v in extra.items()},
        }
    )


def fake_journal(path: Path, pid: int, started: float | None, name: str = "fake") -> Path:
    """The journal an append along ``t`` by process *pid* (started at *started*) left."""
    folder = journal.journal_dir(path) / f"{pid}-{name}"
    (folder / "files").mkdir(parents=True)
    record = {
        "operation": "append along 't'",
        "pid": pid,
        "pid_started": started,
        "host": socket.gethostname(),
        "started": "2026-01-01T00:00:00+00:00",
        "saved": [],
        "created": [],
        "new_arrays": [],
    }
    (folder / "journal.json").write_text(json.dumps(record))
    return folder


class CountingScheduler:
    """A dask scheduler that counts the computes it is asked for."""

    def __init__(self) -> None:
        self.computes = 0

    def __call__(self, dsk: Mapping[Any, Any], keys: Any, **kwargs: Any) -> Any:
        self.computes += 1
        return dask.get(dsk, keys, **kwargs)


@pytest.fixture
def small() -> xr.Dataset:
    """Two variables on (time, y, x) with coordinates and attributes, in memory."""
    rng = np.random.default_rng(0)
    time = np.arange("2000-01-01", "2000-01-13", dtype="datetime64[D]").astype("datetime64[ns]")
    return xr.Dataset(
        {
            "temp": (
                ("time", "y", "x"),
                rng.normal(280, 5, (12, 30, 40)).astype("f4"),
                {"units": "K"},
            ),
            "mask": (("y", "x"), rng.random((30, 40)) > 0.5),
        },
        coords={"time": time, "y": np.arange(30.0), "x": np.arange(40.0)},
        attrs={"title": "small test field", "history": "2020-05-06T07:08:09+00:00: made by hand"},
    )


@pytest.fixture
def small_chunked(small: xr.Dataset) -> xr.Dataset:
    """The same dataset, dask-backed."""
    return small.chunk({"time": 5, "y": 15})


@pytest.fixture
def counting_scheduler() -> CountingScheduler:
    return CountingScheduler()


# ---------------------------------------------------------------------- real parts


@pytest.fixture(scope="session")
def s3_endpoints() -> Iterator[tuple[str, Any]]:
    """A moto S3 server on 127.0.0.1 (its own process) behind a proxy that can refuse PUTs.

    Yields the proxy's endpoint and the proxy; stopped by the server's process id.
    """
    from .s3server import AWS_TEST_ENV, MotoServer, RefusingProxy

    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_TEST_ENV.items():  # no profile, proxy or file of this machine
            if value is None:
                env.delenv(name, raising=False)
            else:
                env.setenv(name, value)
        with MotoServer() as server, RefusingProxy(server.endpoint) as proxy:
            yield proxy.endpoint, proxy


@dataclass
class S3Bucket:
    """A fresh bucket of the test S3 server."""

    name: str
    storage_options: dict[str, Any]
    proxy: Any
    endpoint: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}"

    def store(self, name: str, through: str = "fsspec") -> tuple[Any, dict[str, Any]]:
        """The store *name* of the bucket and the keywords a call takes with it: its URL
        and ``storage_options`` (fsspec), or zarr's ``ObjectStore`` over obstore's
        ``S3Store`` of it and none (``through="obstore"``)."""
        if through == "obstore":
            from .s3server import obstore_store

            return obstore_store(self.endpoint, self.name, name), {}
        return f"{self.url}/{name}", {"storage_options": self.storage_options}

    def snapshot(self) -> dict[str, str]:
        """Every object of the bucket (key → sha256 of its bytes)."""
        from .s3server import bucket_snapshot

        return bucket_snapshot(self.endpoint, self.name)


@pytest.fixture
def s3_bucket(s3_endpoints: tuple[str, Any]) -> Iterator[S3Bucket]:
    from .s3server import make_bucket, storage_options

    endpoint, proxy = s3_endpoints
    name = f"test-{uuid.uuid4().hex[:12]}"
    make_bucket(endpoint, name)
    proxy.allow_all()
    yield S3Bucket(name, storage_options(endpoint), proxy, endpoint)
    proxy.allow_all()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs (2 MiB) mounted for this test: a disk that can be filled."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is tried on a tmpfs, which only root can mount here")
    folder = tmp_path / "tmpfs"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def local_client(**cluster: Any) -> Iterator[Any]:
    """A Client (not the default one) of a LocalCluster made with *cluster*."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(dashboard_address=None, **cluster) as made,
        distributed.Client(made, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def cluster_client() -> Iterator[Any]:
    """A distributed.Client of a LocalCluster (one worker, two threads, in this process).

    Per module: while a Client lives, dask's rule sends every ``scheduler=None``
    computation of the process to it.
    """
    yield from local_client(n_workers=1, threads_per_worker=2, processes=False)


@pytest.fixture(scope="module")
def process_cluster() -> Iterator[Any]:
    """A Client of two worker processes: nothing of the test process is shared with them."""
    yield from local_client(n_workers=2, threads_per_worker=1, processes=True)
