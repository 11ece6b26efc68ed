"""The Dataset a write hands to xarray: its data in stored-chunk blocks, and its encodings."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import dask.array as da
import numcodecs
import numpy as np
import pytest
import xarray as xr
import zarr

import xzarrio

from .conftest import assert_same_data, steps


def test_misaligned_dask_chunks_are_written_correctly(tmp_path: Path) -> None:
    data = np.arange(1000 * 7, dtype="f8").reshape(1000, 7)
    ds = xr.Dataset({"v": (("t", "x"), data)}).chunk({"t": 150})
    report = ds.zio.to_zarr(tmp_path / "s.zarr", chunks={"t": 200})
    out = xzarrio.open_zarr(tmp_path / "s.zarr")
    assert zarr.open_array(tmp_path / "s.zarr" / "v").chunks == (200, 7)
    assert out.v.chunks == ((200,) * 5, (7,))
    assert_same_data(out, ds.load())
    assert report.variables == ("v",)


def test_write_never_lets_two_tasks_write_one_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Count the writers per stored chunk while dask writes 150-row chunks into 200-row ones."""
    writes: dict[tuple[str, int], int] = {}
    lock = threading.Lock()
    original = zarr.Array.__setitem__

    def counting_setitem(self: zarr.Array, selection: Any, value: Any) -> None:
        rows = selection[0] if isinstance(selection, tuple) else selection
        for chunk in range(rows.start // 200, -(-rows.stop // 200)):
            with lock:
                writes[(self.path, chunk)] = writes.get((self.path, chunk), 0) + 1
        original(self, selection, value)

    ds = xr.Dataset({"v": (("t", "x"), da.ones((1000, 3), chunks=(150, 3)))})
    monkeypatch.setattr(zarr.Array, "__setitem__", counting_setitem)
    ds.zio.to_zarr(tmp_path / "s.zarr", chunks={"t": 200}, num_workers=2)
    monkeypatch.undo()
    assert writes and set(writes.values()) == {1}, writes


def test_in_memory_data_is_written_from_views_not_a_copy(tmp_path: Path) -> None:
    """One task per stored chunk, each holding a view of the caller's array: no second copy
    (data too large to be written at once)."""
    from xzarrio.writing import WriteRequest, plan_write
    from xzarrio.writing.plan import AT_ONCE_BYTES

    rows = AT_ONCE_BYTES // 80 + 60 - (AT_ONCE_BYTES // 80) % 60
    values = np.arange(rows * 10.0).reshape(rows, 10)
    request = WriteRequest.of(chunks={"y": rows // 3})
    p = plan_write(xr.Dataset({"v": (("y", "x"), values)}), tmp_path / "s.zarr", request)
    blocks = list(dict(p.ds["v"].data.__dask_graph__()).values())
    assert len(blocks) == 3
    assert all(isinstance(b, np.ndarray) and np.shares_memory(b, values) for b in blocks)
    assert list(tmp_path.iterdir()) == []  # planning writes nothing


def test_user_encoding_packs_and_compresses(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    ds = steps(100) / 10
    ds.zio.to_zarr(
        path,
        zarr_format=2,
        encoding={
            "v": {
                "dtype": "int16",
                "scale_factor": 0.1,
                "_FillValue": -32768,
                "compressor": numcodecs.Zlib(1),
                "chunks": (30,),
            }
        },
    )
    array = zarr.open_array(path / "v")
    assert array.dtype == np.int16 and array.chunks == (30,)
    assert isinstance(array.compressors[0], numcodecs.Zlib)
    np.testing.assert_allclose(xzarrio.open_zarr(path).v.values, ds.v.values, atol=0.05)
