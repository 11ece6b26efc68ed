"""Locks on single stored chunks: one lock per chunk, whichever path or store object reaches it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import zarr

from xzarrio.chunklocks import hold_chunks, lock_file


def test_a_store_reached_through_a_link_shares_its_lock_file(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert lock_file(tmp_path / "link" / "s.zarr") == lock_file(tmp_path / "real" / "s.zarr")


def test_stores_in_memory_over_one_dict_share_their_chunk_locks() -> None:
    keys: dict[str, Any] = {}
    first, second = zarr.storage.MemoryStore(keys), zarr.storage.MemoryStore(keys)
    taken = threading.Event()

    def take_it_through_the_second() -> None:
        with hold_chunks(second, ["v/c/0"]):
            taken.set()

    with hold_chunks(first, ["v/c/0"]):
        other = threading.Thread(target=take_it_through_the_second)
        other.start()
        assert not taken.wait(0.3)  # waits for the first holder
    assert taken.wait(5)
    other.join()
