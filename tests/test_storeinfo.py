"""The storage report: what each variable is and what it costs on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xzarrio

from .conftest import disk_bytes


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["v2", "v3"])
def test_storage_report_matches_the_store(
    tmp_path: Path, small: xr.Dataset, zarr_format: int
) -> None:
    path = tmp_path / "s.zarr"
    small.zio.to_zarr(path, chunks={"time": 5}, zarr_format=zarr_format)
    info = xzarrio.info(path)
    assert info.zarr_format == zarr_format
    assert info.nbytes_stored == disk_bytes(path)
    temp = info["temp"]
    assert (temp.dtype, temp.shape, temp.chunks) == ("float32", (12, 30, 40), (5, 30, 40))
    assert temp.codecs == ("blosc-zstd(2) + crc32c" if zarr_format == 3 else "blosc-zstd(2)")
    assert temp.nbytes == small.temp.nbytes
    assert temp.nbytes_stored == disk_bytes(path / "temp")
    assert (temp.chunks_initialized, temp.chunks_total) == (3, 3)
    assert temp.ratio == pytest.approx(temp.nbytes / temp.nbytes_stored)
    assert info.nbytes == sum(small[name].nbytes for name in small.variables)
    text = repr(info)
    assert (
        "temp" in text
        and "blosc-zstd(2)" in text
        and "3/3" in text
        and "kiB" in text
        and "total" in text
    )
    html = info._repr_html_()
    assert html.startswith("<div>") and "<table>" in html and "<td>temp</td>" in html
    with pytest.raises(KeyError, match="no variable 'nope'"):
        info["nope"]


def test_storage_report_counts_uninitialised_chunks(tmp_path: Path) -> None:
    ds = xr.Dataset(
        {
            "z": (("y", "x"), np.zeros((400, 30), "f4")),
            "missing": (("y", "x"), np.full((400, 30), np.nan, "f4")),
        }
    )
    ds.zio.to_zarr(tmp_path / "s.zarr", chunks={"y": 100})
    info = xzarrio.info(tmp_path / "s.zarr")
    # the fill value is NaN: zero chunks are real chunks that compress to almost nothing,
    # all-NaN chunks equal the fill value and are not written at all
    assert (info["z"].chunks_initialized, info["z"].chunks_total) == (4, 4)
    assert info["z"].nbytes_stored < 2_000
    assert (info["missing"].chunks_initialized, info["missing"].chunks_total) == (0, 4)
    assert "0/4" in repr(info)


def test_bytes_under_a_local_folder_are_its_files_but_partial_writes(
    tmp_path: Path, small: xr.Dataset
) -> None:
    """A local store's folder is walked at once; the total is the one a walk of the
    store's keys gives (through a wrapper, which takes the generic route)."""
    from zarr.storage import LocalStore, LoggingStore, StorePath

    from xzarrio.storeinfo import nbytes_under

    path = tmp_path / "s.zarr"
    small.zio.to_zarr(path)
    folder = path / "temp"
    files = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    (folder / "c" / "0.1a2b.partial").write_bytes(b"half a chunk")  # zarr's write in progress
    local = nbytes_under(StorePath(LocalStore(path), "temp"))
    wrapped = nbytes_under(StorePath(LoggingStore(LocalStore(path)), "temp"))
    assert local == wrapped == files > 0
    assert nbytes_under(StorePath(LocalStore(path), "absent")) == 0
