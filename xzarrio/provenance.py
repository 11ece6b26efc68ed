"""Provenance attributes: build them, prepend the history line, parse them back.

Pure functions: the write path and the command line both call them, and none
of them touches a store. The ``history`` attribute follows the NCO/CDO
convention: one line per operation, newest first, each starting with the
time of the operation.
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import InvalidArgumentError

__all__ = [
    "HistoryEntry",
    "Provenance",
    "attrs_for_modified_store",
    "attrs_for_new_store",
    "fold_region_write",
    "format_call",
    "history_line",
    "now_utc",
    "versions_tag",
]

PROVENANCE_KEYS = ("history", "creation_date", "gmt_timestamp", "date_modified")


def now_utc() -> _dt.datetime:
    """The current time in UTC, to the second (so it equals its epoch integer)."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def versions_tag() -> str:
    """The bracketed versions that end every history line.

    Read once per process: looking a version up in the installed metadata
    takes milliseconds, and every write makes a history line.

    Examples
    --------
    >>> versions_tag().startswith("[xzarrio ")
    True
    """
    names = ("xzarrio", "xarray", "zarr", "dask")
    return "[" + "; ".join(f"{name} {_version(name)}" for name in names) + "]"


def format_call(operation: str, arguments: Mapping[str, Any]) -> str:
    """Render an operation and its arguments the way it was called.

    Arguments whose value is None are left out; an object that is no plain value
    (a codec, a store) is named by its type.

    Examples
    --------
    >>> format_call("zio.to_zarr", {"store": "out.zarr", "chunks": {"y": 2000}, "region": None})
    "zio.to_zarr(store='out.zarr', chunks={'y': 2000})"
    """
    args = ", ".join(
        f"{key}={_shown(value)}" for key, value in arguments.items() if value is not None
    )
    return f"{operation}({args})"


_PLAIN = (str, int, float, bool, dict, list, tuple, slice)


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, _PLAIN) else type(value).__name__


def history_line(call: str, text: str | None, when: _dt.datetime) -> str:
    """One history line: ``<ISO time>: <call>[: <text>] [versions]``.

    Examples
    --------
    >>> import datetime as dt
    >>> when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    >>> history_line("zio.to_zarr(store='a.zarr')", "first run", when).split(" [")[0]
    "2026-01-02T03:04:05+00:00: zio.to_zarr(store='a.zarr'): first run"
    """
    text = " ".join(str(text).split()) if text else ""
    middle = f"{call}: {text}" if text else call
    return f"{when.isoformat()}: {middle} {versions_tag()}"


def _prepend(line: str, old_history: Any) -> str:
    if old_history is None or old_history == "":
        return line
    if not isinstance(old_history, str):  # e.g. a list written by another tool
        old_history = "\n".join(map(str, old_history))
    return f"{line}\n{old_history}"


def attrs_for_new_store(
    attrs: Mapping[str, Any], call: str, text: str | None, when: _dt.datetime
) -> dict[str, Any]:
    """Root attributes for a newly written store.

    The object's own attributes are kept; its ``history`` is kept under the
    new line; ``creation_date`` and ``gmt_timestamp`` are this write's;
    a ``date_modified`` carried over from a source store is dropped, since
    the new store's data was all written now.
    """
    new = {k: v for k, v in attrs.items() if k != "date_modified"}
    new["history"] = _prepend(history_line(call, text, when), attrs.get("history"))
    new["creation_date"] = when.isoformat()
    new["gmt_timestamp"] = int(when.timestamp())
    return new


def attrs_for_modified_store(
    store_attrs: Mapping[str, Any], call: str, text: str | None, when: _dt.datetime
) -> dict[str, Any]:
    """Root attributes after an append or region write to an existing store.

    ``creation_date`` and ``gmt_timestamp`` stay as they were; ``date_modified``
    is set to *when*; the new history line goes on top of the store's trail,
    or, for a region write that follows others of the same kind, replaces the
    line of their run (:func:`fold_region_write`).
    """
    new = dict(store_attrs)
    line = history_line(call, text, when)
    new["history"] = fold_region_write(line, store_attrs.get("history"))
    new["date_modified"] = when.isoformat()
    return new


_RUN_PREFIX = re.compile(r"^(\d+) region writes, the last: ")
_REGION_ARGUMENT = re.compile(r"region=\{[^{}]*\}")


def _region_run(text: str) -> tuple[int, str] | None:
    """For the text of a region write's history line: how many writes it stands for, and
    what it says besides the region; None for any other line."""
    prefix = _RUN_PREFIX.match(text)
    rest = text[prefix.end() :] if prefix else text
    if not rest.startswith("zio.to_zarr(") or not _REGION_ARGUMENT.search(rest):
        return None
    return (int(prefix[1]) if prefix else 1), _REGION_ARGUMENT.sub("region=...", rest, count=1)


def fold_region_write(line: str, old_history: Any) -> str:
    """*old_history* with *line* on top; a run of region writes makes one line.

    Filling a template from many region writes would add a line each: where
    the newest line is already a region write that differs from *line* only in
    its region, both become one line with their count and the last one's time.

    Examples
    --------
    >>> import datetime as dt
    >>> first, second = (dt.datetime(2026, 1, 2, h, tzinfo=dt.UTC) for h in (3, 4))
    >>> call = "zio.to_zarr(store='a.zarr', mode='r+', region={{'t': slice({}, {}, None)}})"
    >>> old = history_line(call.format(0, 2), None, first)
    >>> folded = fold_region_write(history_line(call.format(2, 4), None, second), old)
    >>> folded.split(" zio.to_zarr")[0]
    '2026-01-02T04:00:00+00:00: 2 region writes, the last:'
    >>> "region={'t': slice(2, 4, None)}" in folded
    True
    """
    new = HistoryEntry.parse(line)
    run = _region_run(new.text)
    lines = _prepend(line, old_history).splitlines()
    if run is None or len(lines) < 2:
        return "\n".join(lines)
    previous = _region_run(HistoryEntry.parse(lines[1]).text)
    if previous is None or previous[1] != run[1]:
        return "\n".join(lines)
    count = previous[0] + 1
    folded = HistoryEntry(time=new.time, text=f"{count} region writes, the last: {new.text}")
    return "\n".join([str(folded), *lines[2:]])


def _parse_time(value: Any) -> _dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        parsed = value
    else:
        try:
            parsed = _dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)


def _timezone(name: str) -> _dt.tzinfo:
    import pytz

    try:
        zone: _dt.tzinfo = pytz.timezone(name)
    except pytz.UnknownTimeZoneError:
        raise InvalidArgumentError(
            f"unknown time zone {name!r}; expected a tz database name such as "
            "'UTC', 'Europe/Paris' or 'America/Vancouver'"
        ) from None
    return zone


@dataclass(frozen=True, kw_only=True)
class HistoryEntry:
    """One line of the ``history`` attribute.

    ``time`` is an aware datetime where the line starts with an ISO 8601
    time, else None (lines written by tools with other conventions);
    ``text`` is the rest of the line.
    """

    time: _dt.datetime | None
    text: str

    @classmethod
    def parse(cls, line: str) -> HistoryEntry:
        head, sep, rest = line.partition(": ")
        time = _parse_time(head) if sep else None
        if time is None:
            return cls(time=None, text=line.strip())
        return cls(time=time, text=rest.strip())

    def __str__(self) -> str:
        return f"{self.time.isoformat()}: {self.text}" if self.time else self.text


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """The provenance of a store or object, parsed from its attributes.

    Attributes
    ----------
    history : tuple of HistoryEntry
        Newest first.
    creation_date, date_modified : datetime or None
        Timezone-aware.
    gmt_timestamp : int or None
        Seconds since the Unix epoch, the instant of ``creation_date``.

    Examples
    --------
    >>> p = Provenance.from_attrs({
    ...     "history": "2026-01-02T03:04:05+00:00: zio.to_zarr(store='a.zarr'): a test",
    ...     "creation_date": "2026-01-02T03:04:05+00:00",
    ...     "gmt_timestamp": 1767323045,
    ... })
    >>> p.history[0].text
    "zio.to_zarr(store='a.zarr'): a test"
    >>> p.in_timezone("America/Vancouver").creation_date.isoformat()
    '2026-01-01T19:04:05-08:00'
    """

    history: tuple[HistoryEntry, ...] = ()
    creation_date: _dt.datetime | None = None
    date_modified: _dt.datetime | None = None
    gmt_timestamp: int | None = None

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Provenance:
        """Parse the provenance attributes out of an attribute mapping."""
        raw = attrs.get("history") or ""
        if not isinstance(raw, str):
            raw = "\n".join(map(str, raw))
        stamp = attrs.get("gmt_timestamp")
        try:
            stamp = int(stamp) if stamp is not None else None
        except (TypeError, ValueError):
            stamp = None
        return cls(
            history=tuple(HistoryEntry.parse(line) for line in raw.splitlines() if line.strip()),
            creation_date=_parse_time(attrs.get("creation_date")),
            date_modified=_parse_time(attrs.get("date_modified")),
            gmt_timestamp=stamp,
        )

    def in_timezone(self, tz: str) -> Provenance:
        """The same provenance with every time shown in the tz database zone *tz*."""
        zone = _timezone(tz)

        def convert(value: _dt.datetime | None) -> _dt.datetime | None:
            return value.astimezone(zone) if value is not None else None

        return replace(
            self,
            history=tuple(replace(e, time=convert(e.time)) for e in self.history),
            creation_date=convert(self.creation_date),
            date_modified=convert(self.date_modified),
        )

    def __str__(self) -> str:
        def show(value: object) -> str:
            if isinstance(value, _dt.datetime):
                return value.isoformat()
            return "-" if value is None else str(value)

        lines = [
            f"creation_date : {show(self.creation_date)}",
            f"gmt_timestamp : {show(self.gmt_timestamp)}",
            f"date_modified : {show(self.date_modified)}",
            f"history       : {len(self.history)} "
            f"entr{'y' if len(self.history) == 1 else 'ies'}, newest first",
        ]
        lines += [f"  {entry}" for entry in self.history]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "<xzarrio.Provenance>\n" + "\n".join(f"  {line}" for line in str(self).splitlines())
