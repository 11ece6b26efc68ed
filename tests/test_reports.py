"""Reports read as text, as HTML in a notebook, and as built-ins for a results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

import xzarrio

from .conftest import disk_bytes, steps


def test_an_appends_report_says_what_this_call_wrote(tmp_path: Path) -> None:
    ds = xr.Dataset({"v": ("t", np.arange(1000.0))}, coords={"t": np.arange(1000)})
    ds.zio.to_zarr(tmp_path / "s.zarr")
    more = xr.Dataset({"v": ("t", np.arange(100.0))}, coords={"t": np.arange(1000, 1100)})
    report = more.zio.to_zarr(tmp_path / "s.zarr", append_dim="t")
    assert report.nbytes == 1100 * 8 * 2  # v and t, in the store after the append
    assert report.nbytes_written == more.nbytes == 100 * 8 * 2
    assert report.throughput == report.nbytes_written / report.seconds
    text = repr(report)
    assert "written     : 1.56 kiB (1,600 bytes) by this call" in text
    assert "in the store" in text and "history     : " in text


def test_an_appends_stored_size_is_measured_when_first_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizing an append's variables walks every chunk they hold: a loop of daily
    appends to a long store would pay for that walk on each call, so the report
    measures it when it is first read, and once."""
    from xzarrio.writing import report as report_module

    path = tmp_path / "s.zarr"
    steps(100).zio.to_zarr(path, chunks={"t": 10})
    walked: list[object] = []
    walk = report_module.nbytes_under

    def counted(path: Any) -> int:
        walked.append(path)
        return walk(path)

    monkeypatch.setattr(report_module, "nbytes_under", counted)
    report = steps(10, start=100).zio.to_zarr(path, append_dim="t")
    assert walked == []
    assert report.nbytes_stored == disk_bytes(path / "v")
    assert len(walked) == 1
    assert report.to_dict()["nbytes_stored"] == report.nbytes_stored and len(walked) == 1
    assert report.ratio == report.nbytes / report.nbytes_stored


def test_a_write_report_as_html_and_as_built_ins(tmp_path: Path) -> None:
    report = xr.Dataset({"v": ("t", np.arange(10.0))}).zio.to_zarr(tmp_path / "s.zarr")
    page = report._repr_html_()
    assert page.startswith("<div>") and "<table>" in page and "by this call" in page
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["nbytes_written"] == report.nbytes_written and data["variables"] == ["v"]
    assert data["history"] == [str(entry) for entry in report.provenance.history]


def test_provenance_reads_as_text_in_a_repl(tmp_path: Path) -> None:
    report = xr.Dataset({"v": ("t", np.arange(10.0))}).zio.to_zarr(
        tmp_path / "s.zarr", history="first"
    )
    shown = repr(report.provenance)
    assert shown.startswith("<xzarrio.Provenance>\n  creation_date : ")
    assert "HistoryEntry(" not in shown and "first" in shown


def test_a_profile_report_reads_as_one_line_in_a_repl() -> None:
    field = xr.DataArray(np.ones((100, 10)), dims=("y", "x")).chunk({"y": 50})
    _, report = field.zio.profile(lambda da: da.sum(), num_workers=2)
    shown = repr(report)
    assert shown.startswith("<xzarrio.ProfileReport: ") and "TaskKind(" not in shown
    assert isinstance(xzarrio.ProfileReport, type)


def test_an_append_that_leaves_variables_alone_does_not_count_them(tmp_path: Path) -> None:
    def field(start: int, n: int) -> xr.Dataset:
        return xr.Dataset(
            {"v": (("t", "x"), np.ones((n, 100))), "static": ("x", np.zeros(100))},
            coords={"t": np.arange(start, start + n), "x": np.arange(100)},
        )

    field(0, 10).zio.to_zarr(tmp_path / "s.zarr")
    report = field(10, 5).zio.to_zarr(tmp_path / "s.zarr", mode="a-", append_dim="t")
    assert report.nbytes_written == 5 * 100 * 8 + 5 * 8  # v and t only


def test_report_numbers_match_the_disk(tmp_path: Path, small: xr.Dataset) -> None:
    report = small.zio.to_zarr(tmp_path / "s.zarr")
    assert report.nbytes_stored == disk_bytes(tmp_path / "s.zarr")
    assert report.nbytes == small.nbytes == report.nbytes_written
    assert report.ratio == pytest.approx(report.nbytes / report.nbytes_stored)
    assert report.throughput == pytest.approx(report.nbytes_written / report.seconds)
    assert report.store == str(tmp_path / "s.zarr")
    assert set(report.variables) == set(small.variables)
    text = repr(report)
    assert "kiB" in text and "ratio" in text and "throughput" in text


@pytest.mark.parametrize(
    ("zarr_format", "consolidated"), [(2, None), (2, False), (3, None), (3, False)]
)
def test_report_numbers_match_the_disk_for_either_format(
    tmp_path: Path, small: xr.Dataset, zarr_format: int, consolidated: bool | None
) -> None:
    # the report reads the metadata the stamp left where that holds every array's,
    # else the store as committed (a new store's stamp wrote to its staging folder)
    path = tmp_path / "s.zarr"
    report = small.zio.to_zarr(path, zarr_format=zarr_format, consolidated=consolidated)
    assert report.nbytes_stored == disk_bytes(path)
    assert report.nbytes == small.nbytes
    appended = small.isel(time=slice(0, 3)).assign_coords(
        time=small.time[:3] + np.timedelta64(30, "D")
    )
    report = appended.zio.to_zarr(path, append_dim="time", consolidated=consolidated)
    assert report.nbytes == small.nbytes + appended.temp.nbytes + appended.time.nbytes
    assert "append_dim=" in report.provenance.history[0].text


def test_report_of_a_store_object_reopens_it() -> None:
    store = zarr.storage.MemoryStore()
    report = steps(5).zio.to_zarr(store)
    np.testing.assert_array_equal(report.open().v.values, np.arange(5.0))
