"""Provenance: the pure functions that build and parse the attributes."""

from __future__ import annotations

import datetime as dt
import re

import pytest

import xzarrio
from xzarrio.provenance import (
    HistoryEntry,
    Provenance,
    attrs_for_modified_store,
    attrs_for_new_store,
    format_call,
    history_line,
    versions_tag,
)

WHEN = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 3, 5, 0, 0, 0, tzinfo=dt.UTC)
LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00): (?P<call>zio\.to_zarr\(.*\))"
    r"(?:: (?P<text>.*))? \[xzarrio \S+; xarray \S+; zarr \S+; dask \S+\]$"
)


def test_history_line_has_time_call_text_and_versions() -> None:
    line = history_line("zio.to_zarr(store='a.zarr')", "written for practice", WHEN)
    match = LINE.match(line)
    assert match, line
    assert match["time"] == "2026-03-04T05:06:07+00:00"
    assert match["text"] == "written for practice"
    assert f"xzarrio {xzarrio.__version__}" in versions_tag()


def test_history_line_without_text_and_multiline_text_folded() -> None:
    match = LINE.match(history_line("zio.to_zarr()", None, WHEN))
    assert match and match["text"] is None
    assert "\n" not in history_line("zio.to_zarr()", "two\nlines", WHEN)


def test_format_call_drops_none_and_reprs_values() -> None:
    call = format_call("zio.to_zarr", {"store": "x.zarr", "region": None, "chunks": {"y": 2}})
    assert call == "zio.to_zarr(store='x.zarr', chunks={'y': 2})"


def test_new_store_attrs_keep_user_attrs_and_trail_newest_first() -> None:
    attrs = {"title": "t", "history": "old line", "date_modified": "2020-01-01T00:00:00+00:00"}
    new = attrs_for_new_store(attrs, "zio.to_zarr()", "note", WHEN)
    assert new["title"] == "t"
    assert new["history"].splitlines()[1] == "old line"
    assert (
        new["history"].splitlines()[0].startswith("2026-03-04T05:06:07+00:00: zio.to_zarr(): note")
    )
    assert new["creation_date"] == "2026-03-04T05:06:07+00:00"
    assert new["gmt_timestamp"] == int(WHEN.timestamp())
    assert "date_modified" not in new
    assert attrs["history"] == "old line"  # the input is not mutated


def test_modified_store_attrs_keep_creation_date() -> None:
    store = attrs_for_new_store({}, "zio.to_zarr()", None, WHEN)
    new = attrs_for_modified_store(store, "zio.to_zarr(mode='a')", "more", LATER)
    assert new["creation_date"] == store["creation_date"]
    assert new["gmt_timestamp"] == store["gmt_timestamp"]
    assert new["date_modified"] == LATER.isoformat()
    assert len(new["history"].splitlines()) == 2
    assert "mode='a'" in new["history"].splitlines()[0]


def test_parse_round_trip_and_time_zones() -> None:
    attrs = attrs_for_modified_store(
        attrs_for_new_store(
            {"history": "Tue Jan  2 10:00:00 2024: ncks in.nc out.nc"}, "a()", "x", WHEN
        ),
        "b()",
        None,
        LATER,
    )
    prov = Provenance.from_attrs(attrs)
    assert [e.time for e in prov.history] == [LATER, WHEN, None]
    assert prov.history[2].text == "Tue Jan  2 10:00:00 2024: ncks in.nc out.nc"
    assert prov.creation_date == WHEN and prov.creation_date.tzinfo is not None
    assert prov.date_modified == LATER
    assert prov.gmt_timestamp == int(WHEN.timestamp())
    local = prov.in_timezone("America/Vancouver")
    assert local.creation_date == WHEN  # the same instant ...
    assert local.creation_date.isoformat() == "2026-03-03T21:06:07-08:00"  # ... shown in PST
    first = local.history[0].time
    assert first is not None and first.utcoffset() == dt.timedelta(hours=-8)
    assert "2026-03-03T21:06:07-08:00" in str(local)


def test_unknown_time_zone_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        Provenance().in_timezone("Mars/Olympus")


def test_empty_provenance() -> None:
    prov = Provenance.from_attrs({})
    assert prov.history == () and prov.creation_date is None and prov.gmt_timestamp is None
    assert HistoryEntry.parse("no time here").time is None
