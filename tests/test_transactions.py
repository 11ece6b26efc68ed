"""Transactions beyond the fault table: icechunk, rollbacks that fail, deferred writes,
which scheduler a write runs on, and a failed append's attributes."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

import xzarrio
import xzarrio.writing.transactions
from xzarrio import journal
from xzarrio.errors import StoreChangedError

from .conftest import snapshot, steps
from .faults import CHUNK, base, failing, write

if TYPE_CHECKING:
    import distributed
    import icechunk

# ---------------------------------------------------------------------- icechunk


@pytest.fixture
def repo(tmp_path: Path) -> icechunk.Repository:
    icechunk = pytest.importorskip("icechunk")
    return icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path / "repo")))


def messages(repo: icechunk.Repository) -> list[str]:
    return [snapshot.message for snapshot in repo.ancestry(branch="main")]


def test_icechunk_commits_once_per_successful_write(repo: icechunk.Repository) -> None:
    report = base().zio.to_zarr(repo.writable_session("main"), chunks={"t": CHUNK}, history="first")
    assert report.snapshot_id == repo.lookup_branch("main")
    assert len(messages(repo)) == 2 and "first" in messages(repo)[0]
    assert messages(repo)[0] == str(report.provenance.history[0])

    more = base().isel(t=slice(0, 20))
    appended = more.zio.to_zarr(repo.writable_session("main"), append_dim="t", history="more")
    assert appended.snapshot_id == repo.lookup_branch("main") != report.snapshot_id
    assert "more" in messages(repo)[0] and len(messages(repo)) == 3
    stored = xzarrio.open_zarr(repo.readonly_session(branch="main"))
    np.testing.assert_array_equal(stored.v.values[400:], more.v.values)


@pytest.mark.parametrize("mode", ["w", "append", "region"])
def test_icechunk_failed_write_commits_nothing(repo: icechunk.Repository, mode: str) -> None:
    base().zio.to_zarr(repo.writable_session("main"), chunks={"t": CHUNK})
    tip = repo.lookup_branch("main")
    session = repo.writable_session("main")
    with pytest.raises(RuntimeError, match="a task failed"):
        write(mode, failing(RuntimeError("a task failed")), session)
    assert repo.lookup_branch("main") == tip
    assert not session.has_uncommitted_changes
    stored = xzarrio.open_zarr(repo.readonly_session(branch="main"))
    np.testing.assert_array_equal(stored.v.values, base().v.values)


@pytest.mark.parametrize("mode", ["w", "append", "region"])
def test_icechunk_branch_moved_on_is_store_changed_and_discards(
    repo: icechunk.Repository, mode: str
) -> None:
    """Another writer committed to the branch after the session was made."""
    base().zio.to_zarr(repo.writable_session("main"), chunks={"t": CHUNK})
    late = repo.writable_session("main")
    base().zio.to_zarr(repo.writable_session("main"), mode="w", chunks={"t": CHUNK})
    tip = repo.lookup_branch("main")
    with pytest.raises(StoreChangedError, match=r"moved on.*writable_session\('main'\)"):
        write(mode, base(), late)
    assert repo.lookup_branch("main") == tip
    assert not late.has_uncommitted_changes


def test_icechunk_session_with_changes_or_committed_is_refused(
    repo: icechunk.Repository,
) -> None:
    session = repo.writable_session("main")
    zarr.open_group(session.store, mode="w").attrs["mine"] = 1
    with pytest.raises(ValueError, match=r"repo\.writable_session\("):
        base().zio.to_zarr(session)
    fresh = repo.writable_session("main")
    base().zio.to_zarr(fresh)
    with pytest.raises(PermissionError, match="read-only") as info:
        base().zio.to_zarr(fresh, mode="w")  # committed: a session is used once
    assert isinstance(info.value, xzarrio.errors.StoreNotWritableError)


def test_icechunk_on_a_client_forks_and_merges_into_one_commit(
    repo: icechunk.Repository, process_cluster: distributed.Client
) -> None:
    lazy = base().chunk({"t": CHUNK})
    report = lazy.zio.to_zarr(
        repo.writable_session("main"), chunks={"t": CHUNK}, scheduler=process_cluster
    )
    assert report.snapshot_id == repo.lookup_branch("main") and len(messages(repo)) == 2
    more = base().isel(t=slice(0, 20)).chunk({"t": CHUNK})
    more.zio.to_zarr(
        repo.writable_session("main"), append_dim="t", history="more", scheduler=process_cluster
    )
    assert len(messages(repo)) == 3 and "more" in messages(repo)[0]
    stored = xzarrio.open_zarr(repo.readonly_session(branch="main"))
    np.testing.assert_array_equal(stored.v.values[:400], base().v.values)
    np.testing.assert_array_equal(stored.v.values[400:], more.v.values)
    # the provenance stamped after the data is what was committed
    assert "more" in stored.attrs["history"].splitlines()[0]


def test_icechunk_failed_write_on_a_client_commits_nothing(
    repo: icechunk.Repository, process_cluster: distributed.Client
) -> None:
    base().zio.to_zarr(repo.writable_session("main"), chunks={"t": CHUNK})
    tip = repo.lookup_branch("main")
    session = repo.writable_session("main")
    with pytest.raises(RuntimeError, match="a task failed"):
        write("region", failing(RuntimeError("a task failed")), session, scheduler=process_cluster)
    assert repo.lookup_branch("main") == tip and not session.has_uncommitted_changes
    stored = xzarrio.open_zarr(repo.readonly_session(branch="main"))
    np.testing.assert_array_equal(stored.v.values, base().v.values)


def test_icechunk_on_the_processes_scheduler_is_refused(repo: icechunk.Repository) -> None:
    session = repo.writable_session("main")
    with pytest.raises(ValueError, match=r"distributed\.Client"):
        base().chunk({"t": CHUNK}).zio.to_zarr(session, scheduler="processes")
    assert not session.has_uncommitted_changes


# ---------------------------------------------------------------------- reading changes nothing


def test_open_and_info_never_change_the_disk(tmp_path: Path) -> None:
    """A store a killed writer left (its journal, a staging folder): reading leaves it all."""
    path = tmp_path / "s.zarr"
    base().zio.to_zarr(path, chunks={"t": CHUNK})
    dead = journal.journal_dir(path) / "1-deadbeef"
    (dead / "created" / "v" / "c" / "45").mkdir(parents=True)
    (dead / "journal.json").write_text(
        '{"operation": "append", "pid": 1, "host": "elsewhere", "started": "2026-01-01"}'
    )
    (tmp_path / f".s.zarr{xzarrio.atomic.STAGING_MARK}vm-1-0-abc").mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(xzarrio.errors.InterruptedWriteError):
        xzarrio.open_zarr(path)
    xzarrio.info(path)
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------- rollbacks that fail


def test_a_failed_rollback_keeps_the_error_and_repair_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.zarr"
    base().zio.to_zarr(path, chunks={"t": CHUNK})
    before = snapshot(tmp_path)
    real_replace = os.replace
    calls = {"n": 0}

    def replace_fails_once(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if "/saved/" in str(src):  # the playback putting a chunk back
            calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_fails_once)
    with pytest.raises(RuntimeError, match="a task failed") as info:
        write("region", failing(RuntimeError("a task failed")), path, num_workers=2)
    monkeypatch.undo()
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENOSPC
    assert any("xzarrio.repair(" in note for note in info.value.__notes__)
    with pytest.raises(xzarrio.errors.InterruptedWriteError):
        xzarrio.open_zarr(path)
    assert len(xzarrio.repair(path)) == 1
    assert snapshot(tmp_path) == before
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.partial"))


def test_rollback_on_a_full_disk(tmpfs: Path) -> None:
    """The disk fills up completely while the write runs: the rollback needs no space."""
    path = tmpfs / "s.zarr"
    base().zio.to_zarr(path, chunks={"t": CHUNK})
    filler = tmpfs / "filler"
    filler.touch()
    before = snapshot(tmpfs)

    def fill_then_fail(block: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None  # dask passes it
        if block_info[None]["array-location"][0][0] == 250:
            # unbuffered: a buffer left over by the failed write would fail again at close
            with open(filler, "ab", buffering=0) as handle:
                try:
                    while True:
                        handle.write(b"\0" * 65536)
                except OSError:
                    pass
            raise RuntimeError("the disk is full now")
        return block

    data = da.map_blocks(fill_then_fail, da.full((400, 50), -1.0, chunks=(CHUNK, 50)), dtype="f8")
    with pytest.raises(RuntimeError, match="the disk is full now"):
        write("region", xr.Dataset({"v": (("t", "x"), data)}), path, num_workers=2)
    filler.write_bytes(b"")
    assert snapshot(tmpfs) == before
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, base().v.values)


# ---------------------------------------------------------------------- deferred writes


def test_deferred_writes_journal_what_they_touch_when_they_run(tmp_path: Path) -> None:
    """Plan appends A and B; run A; B fails: B's rollback leaves exactly what A made."""
    path = tmp_path / "s.zarr"
    base().zio.to_zarr(path, chunks={"t": CHUNK})
    first = base().isel(t=slice(0, 25)).zio.to_zarr(path, append_dim="t", compute=False)
    second = failing(RuntimeError("B fails")).zio.to_zarr(path, append_dim="t", compute=False)
    first.compute()
    after_first = snapshot(tmp_path)
    with pytest.raises(RuntimeError, match="B fails"):
        second.compute()
    assert snapshot(tmp_path) == after_first
    assert xzarrio.open_zarr(path).sizes["t"] == 425


def test_deferred_writes_stamp_the_time_and_trail_when_they_run(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    steps(4).zio.to_zarr(path)
    first = steps(2, 4).zio.to_zarr(path, append_dim="t", history="first append", compute=False)
    second = steps(2, 6).zio.to_zarr(path, append_dim="t", history="second append", compute=False)
    first.compute()
    second.compute()
    texts = [e.text for e in xzarrio.open_zarr(path).zio.provenance.history]
    assert "second append" in texts[0] and "first append" in texts[1] and len(texts) == 3
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, np.arange(8.0))


# ---------------------------------------------------------------------- schedulers


def test_the_default_client_writes_dask_data_and_threads_write_memory(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,  # the default client now
    ):
        lazy = base().chunk({"t": CHUNK})
        with distributed.get_task_stream(client) as stream:
            lazy.zio.to_zarr(tmp_path / "dask.zarr")
        assert any("store-map" in str(task["key"]) for task in stream.data)
        with distributed.get_task_stream(client) as stream:
            base().zio.to_zarr(tmp_path / "memory.zarr", chunks={"t": CHUNK})
        assert stream.data == []  # in memory: written by local threads
        with distributed.get_task_stream(client) as stream:
            lazy.zio.to_zarr(tmp_path / "threads.zarr", scheduler="threads")
        assert stream.data == []  # an explicit "threads" stays local
    for name in ("dask", "memory", "threads"):
        out = xzarrio.open_zarr(tmp_path / f"{name}.zarr")
        np.testing.assert_array_equal(out.v.values, base().v.values)


# ---------------------------------------------------------------------- failed appends


def test_failed_append_leaves_provenance_and_attributes_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    steps(4).assign_attrs(title="kept").zio.to_zarr(path)
    attrs = zarr.open_group(path).attrs.asdict()

    def boom(block: np.ndarray) -> np.ndarray:
        raise RuntimeError("disk on fire")

    bad = xr.Dataset({"v": ("t", da.map_blocks(boom, da.zeros(3, chunks=3), dtype="f8"))})
    with pytest.raises(RuntimeError, match="disk on fire"):
        bad.zio.to_zarr(path, append_dim="t")
    assert zarr.open_group(path).attrs.asdict() == attrs


def test_a_failure_to_clear_the_workers_state_still_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollback comes first; a failure after it is a note on the original error."""
    path = tmp_path / "s.zarr"
    base().zio.to_zarr(path, chunks={"t": CHUNK})
    before = snapshot(tmp_path)

    def lost(gate: Any) -> None:
        raise OSError("the cluster went away")

    monkeypatch.setattr(xzarrio.writing.transactions, "drop_worker_state", lost)
    with pytest.raises(RuntimeError, match="a task failed") as info:
        failing(RuntimeError("a task failed")).zio.to_zarr(path, region={"t": slice(0, 400)})
    assert snapshot(tmp_path) == before  # rolled back, journal gone
    assert any("could not clear the workers' state" in note for note in info.value.__notes__)
