"""The undo journal, in the corners an independent review found."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import xzarrio
from xzarrio import journal
from xzarrio.liveness import process_started
from xzarrio.stores import locate

from .conftest import fake_journal, series, snapshot


def failing(n: int, fail_at: int, then: Callable[[], None] | None = None) -> xr.Dataset:
    def maybe(block: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None  # dask passes it
        if block_info[None]["array-location"][0][0] == fail_at:
            if then is not None:
                then()
            raise RuntimeError("this task fails")
        return block

    return xr.Dataset({"v": ("t", da.map_blocks(maybe, da.full(n, -1.0, chunks=5), dtype="f8"))})


def test_failed_region_write_keeps_another_writers_committed_region(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(np.arange(20.0)).zio.to_zarr(path, chunks={"t": 5})

    def other_writer_commits() -> None:
        series(np.full(5, 9.0)).zio.to_zarr(path, region={"t": slice(15, 20)}, history="other")

    with pytest.raises(RuntimeError, match="this task fails"):
        failing(10, 5, then=other_writer_commits).zio.to_zarr(path, region={"t": slice(0, 10)})
    out = xzarrio.open_zarr(path)
    np.testing.assert_array_equal(out.v.values, [*range(15), 9, 9, 9, 9, 9])
    assert "other" in out.zio.provenance.history[0].text  # its history line survived too


def test_sharded_append_failure_restores_the_edge_shard(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(np.arange(10.0)).zio.to_zarr(path, encoding={"v": {"chunks": (2,), "shards": (6,)}})
    before = snapshot(tmp_path)
    with pytest.raises(RuntimeError, match="this task fails"):
        failing(10, 5).zio.to_zarr(path, append_dim="t")
    assert snapshot(tmp_path) == before
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, np.arange(10.0))


def test_a_journal_of_this_process_that_is_not_running_is_dead(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(np.arange(4.0)).zio.to_zarr(path)
    fake_journal(path, os.getpid(), started=process_started(os.getpid()))
    with pytest.raises(xzarrio.errors.InterruptedWriteError):
        xzarrio.open_zarr(path)
    assert len(xzarrio.repair(path)) == 1


def test_a_half_removed_journal_is_swept_not_played(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    series(np.arange(4.0)).zio.to_zarr(path)
    leftover = journal.journal_dir(path) / "1-abc.discarded" / "files"
    leftover.mkdir(parents=True)
    before = snapshot(tmp_path)
    xzarrio.open_zarr(path)  # opening changes nothing on disk
    assert snapshot(tmp_path) == before
    assert xzarrio.repair(path) == []  # nothing to play back; the leftover is swept
    assert not journal.journal_dir(path).exists()


def test_mean_cpu_is_cpu_time_over_wall_time() -> None:
    x = xr.DataArray(np.random.default_rng(0).random((2000, 500)), dims=("y", "x")).chunk(
        {"y": 250}
    )
    _, report = x.zio.reduce("std", dim="y", scheduler="synchronous")
    resources = report.profilers[1]
    assert report.mean_cpu_percent == pytest.approx(
        100 * (resources.cpu_seconds - resources.own_cpu_seconds) / report.wall_seconds
    )
    assert not resources._children  # no /proc scan for children under threads


def test_a_local_journal_keeps_a_key_that_another_key_is_a_folder_of(tmp_path: Path) -> None:
    """A group replaced in place: its old chunk file a/c/0 and a new a/c/0/0 are both journaled."""
    from zarr.core.sync import sync

    root = tmp_path / "s.zarr"
    (root / "a" / "c").mkdir(parents=True)
    (root / "a" / "c" / "0").write_bytes(b"old")
    before = snapshot(tmp_path)
    kept = journal.begin_journal(locate(root), "a test")
    sync(kept.before_change("a/c/0"))
    (root / "a" / "c" / "0").unlink()
    (root / "a" / "c").rmdir()
    sync(kept.before_change("a/c/0/0"))
    (root / "a" / "c" / "0").mkdir(parents=True)
    (root / "a" / "c" / "0" / "0").write_bytes(b"new")
    kept.playback()
    assert snapshot(tmp_path) == before


def test_a_memory_stores_journal_is_found_through_any_wrapper_of_it() -> None:
    """A MemoryStore's journals are kept in memory by the dict it keeps its keys in: one
    left by a write through a wrapper is found by readers and repair of the store itself."""
    from zarr.buffer import default_buffer_prototype
    from zarr.core.sync import sync
    from zarr.storage import LoggingStore, MemoryStore, WrapperStore

    from xzarrio.seams import memory_store_dict

    store = MemoryStore()
    series(np.arange(4.0)).zio.to_zarr(store)
    before = dict(memory_store_dict(store))
    chunk = next(key for key in before if "/c/" in key)
    wrapper = WrapperStore(store)
    kept = journal.begin_journal(locate(wrapper), "a test")
    sync(kept.before_change(chunk))
    sync(wrapper.set(chunk, default_buffer_prototype().buffer.from_bytes(b"half-written")))
    # the writer is gone (killed): nothing ends its journal
    for other in (store, LoggingStore(store), MemoryStore(memory_store_dict(store))):
        assert [j.operation for j in journal.journals(locate(other))] == ["a test"]
        assert sync(journal.WriteWatch.of(locate(other)).under_way())
    assert len(xzarrio.repair(store, force=True)) == 1  # force: its writer is this process
    assert dict(memory_store_dict(store)) == before
    assert not sync(journal.WriteWatch.of(locate(wrapper)).under_way())


def test_a_journal_begun_while_another_writer_removes_the_journals_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Region writers begin and end side by side. One's discard removes the folder of
    journals once it is empty, which may fall between another's making of that folder
    and of its own journal in it: the other begins all the same."""
    path = tmp_path / "s.zarr"
    xr.Dataset({"v": ("t", np.zeros(4))}).zio.to_zarr(path)
    journals = journal.journal_dir(path)
    real_mkdir, removed = os.mkdir, list[Any]()

    def mkdir(target: Any, *args: Any, **kwargs: Any) -> None:
        if Path(target).parent == journals and journals.is_dir() and not removed:
            journals.rmdir()  # the other writer's discard, just now
            removed.append(target)
        real_mkdir(target, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    xr.Dataset({"v": ("t", np.ones(4))}).zio.to_zarr(path, region={"t": slice(0, 4)})
    assert removed
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, np.ones(4))
    assert not journals.exists()


@pytest.mark.parametrize("flat", [True, False], ids=["one-file-a-key", "earlier-folders"])
def test_a_killed_writers_journal_is_played_back_in_either_layout(
    tmp_path: Path, flat: bool
) -> None:
    """A journal keeps each key as one file, so that a write's end has no folders to
    remove; earlier versions kept it in folders as the store has it. A journal that a
    killed writer of either left is played back."""
    path = tmp_path / "s.zarr"
    series(np.arange(8.0)).zio.to_zarr(path, chunks={"t": 4})
    before = snapshot(tmp_path)
    pid = os.getpid()  # this process, but no write of it running: the writer is dead
    record = {"operation": "region write", "pid": pid, "pid_started": process_started(pid),
              "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    kept = journal.LocalJournal.begin(path, f"{pid}-killed", record)
    if not flat:
        del kept.record["flat_entries"]
        (kept.folder / "journal.json").write_text(json.dumps(kept.record))
    for key in ("v/c/0", "v/c/5"):
        asyncio.run(kept._keep(key))
        changed = path / f"{key}.new"
        changed.write_bytes(b"half a write")
        os.replace(changed, path / key)
    entry = "saved/v%2Fc%2F0.key" if flat else "saved/v/c/0.key"
    assert (kept.folder / entry).is_file()
    assert len(xzarrio.repair(path)) == 1
    assert snapshot(tmp_path) == before
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, np.arange(8.0))


def test_a_writers_look_at_journals_while_another_removes_their_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A region writer looks for journals left by killed writers while another one,
    ending, removes the emptied folder of journals: between the look at the folder
    and at what it holds. No journal is there, and the write goes on."""
    path = tmp_path / "s.zarr"
    xr.Dataset({"v": ("t", np.zeros(4))}).zio.to_zarr(path)
    journals = journal.journal_dir(path)
    journals.mkdir()  # another writer's, its journal just swept
    real_iterdir, removed = Path.iterdir, list[Path]()

    def iterdir(self: Path) -> Any:
        if self == journals and self.is_dir() and not removed:
            self.rmdir()  # the other writer's end, just now
            removed.append(self)
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    xr.Dataset({"v": ("t", np.ones(4))}).zio.to_zarr(path, region={"t": slice(0, 4)})
    assert removed
    np.testing.assert_array_equal(xzarrio.open_zarr(path).v.values, np.ones(4))


def test_a_key_too_long_for_one_file_name_is_kept_in_folders(tmp_path: Path) -> None:
    """A flat entry's name is the whole key, escaped: a variable of a long name (or a
    deep group) makes it too long for one file name, and it is kept in folders as the
    store has it, room left for the temporary name of a copy."""
    name = "v" * 240
    path = tmp_path / "s.zarr"
    xr.Dataset({name: ("t", np.zeros(4))}).zio.to_zarr(path)
    pid = os.getpid()
    record = {"operation": "region write", "pid": pid, "pid_started": process_started(pid),
              "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    kept = journal.LocalJournal.begin(path, f"{pid}-long", record)
    short, long = "v/c/0", f"{name}/c/0"
    assert kept._entry("saved", short).parent == kept.folder / "saved"
    assert kept._entry("saved", long) == kept.folder / "saved" / f"{long}.key"
    for key in (short, long):
        assert kept._key_of(kept._entry("saved", key), "saved") == path / key
    kept.discard()
    xr.Dataset({name: ("t", np.ones(4))}).zio.to_zarr(path, region={"t": slice(0, 4)})
    np.testing.assert_array_equal(xzarrio.open_zarr(path)[name].values, np.ones(4))


@pytest.mark.parametrize("through", ["fsspec", "obstore"])
def test_an_append_beside_a_running_write_to_an_object_store_is_refused(
    s3_bucket: Any, through: str
) -> None:
    """Object stores have no lock: an append must run alone, so a live journal of
    another write refuses it before anything is written; a region write goes ahead."""
    store, options = s3_bucket.store("s.zarr", through)
    series(np.arange(4.0)).zio.to_zarr(store, **options)
    running = journal.begin_journal(locate(store, options.get("storage_options")), "region")
    try:
        before = s3_bucket.snapshot()
        with pytest.raises(xzarrio.errors.WriteInProgressError, match="must run alone"):
            series(np.arange(4.0, 6.0)).zio.to_zarr(store, append_dim="t", **options)
        assert s3_bucket.snapshot() == before
        series(np.arange(4.0)).zio.to_zarr(store, region={"t": slice(0, 4)}, **options)
    finally:
        running.discard()
    series(np.arange(4.0, 6.0)).zio.to_zarr(store, append_dim="t", **options)
    assert xzarrio.open_zarr(store, **options).v.values.tolist() == [0, 1, 2, 3, 4, 5]
