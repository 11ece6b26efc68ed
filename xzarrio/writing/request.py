"""The request of a write: the call's arguments, checked once and handed down whole.

:meth:`WriteRequest.of` turns the keywords of ``.zio.to_zarr`` into one
frozen record, with a sub-record for xarray's keywords that are passed on as
they are (:class:`XarrayKeywords`), one for how the write runs
(:class:`Running`) and one for its provenance (:class:`Stamp`). A keyword that
xarray adds to its ``to_zarr`` is a field of :class:`XarrayKeywords` and a
keyword of the accessor, nothing more: it is checked here and reaches xarray
through :meth:`XarrayKeywords.passed_on`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..errors import InvalidArgumentError
from ..rounding import check_keepbits_argument
from . import checks

__all__ = ["Running", "Stamp", "WriteRequest", "XarrayKeywords"]


@dataclass(frozen=True, kw_only=True)
class XarrayKeywords:
    """xarray's keywords of ``to_zarr`` that xzarrio hands on with the meaning xarray gives them."""

    #: refuse dask chunks and regions that cover stored chunks in part (None: xzarrio
    #: locks such chunks where it can; see :func:`~xzarrio.writing.plan.plan_write`)
    safe_chunks: bool | None = None
    #: rechunk dask data so that every task writes whole stored chunks
    align_chunks: bool = True
    #: write chunks that hold only the fill value
    write_empty_chunks: bool | None = None
    #: keywords for ``dask.array.store``
    chunkmanager_store_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks.check_optional_flag("safe_chunks", self.safe_chunks)
        checks.check_flag("align_chunks", self.align_chunks)
        checks.check_optional_flag("write_empty_chunks", self.write_empty_chunks)
        store_kwargs = checks.check_mapping(
            "chunkmanager_store_kwargs", self.chunkmanager_store_kwargs,
            "keywords for dask.array.store",
        )  # fmt: skip
        object.__setattr__(self, "chunkmanager_store_kwargs", store_kwargs)

    def passed_on(self, *, in_part: bool) -> dict[str, Any]:
        """The keywords for xarray's ``to_zarr``.

        xarray's own check of chunks covered in part is left out where xzarrio
        has taken them (*in_part*), but only where the dask chunks are aligned
        to the stored ones: else two tasks of the write would share a chunk,
        and xarray's check is the one that refuses that.
        """
        passed = {f.name: getattr(self, f.name) for f in fields(self)}
        passed["safe_chunks"] = self.safe_chunks is not False and not (
            in_part and self.align_chunks
        )
        passed["chunkmanager_store_kwargs"] = dict(self.chunkmanager_store_kwargs)
        return passed


@dataclass(frozen=True, kw_only=True)
class Running:
    """How the write runs."""

    #: a scheduler name, a ``distributed.Client``, or None (dask's own rule)
    scheduler: Any = None
    #: threads (or processes) that write chunks; None: all cores
    num_workers: int | None = None
    #: show a progress bar on stderr (None: the option)
    progress: bool | None = None
    #: write now (True), or return a ``Delayed`` (False)
    compute: bool = True

    def __post_init__(self) -> None:
        checks.check_optional_flag("progress", self.progress)
        checks.check_flag("compute", self.compute)


@dataclass(frozen=True, kw_only=True)
class Stamp:
    """The provenance of the write."""

    #: the user's note for the history line
    history: str | None = None
    #: whether the write stamps provenance at all (the option permitting): a
    #: template's fill does not, the template's own line records the write
    recorded: bool = True
    #: the operation the history line names
    operation: str = "zio.to_zarr"
    #: the arguments it records besides the store, its source, group, format and
    #: source digests, where the caller words them (a rechunk); None: to_zarr's own
    arguments: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.history is not None and not isinstance(self.history, str):
            raise InvalidArgumentError(
                f"history must be a string (your note for the history line), got {self.history!r}"
            )


@dataclass(frozen=True, kw_only=True)
class WriteRequest:
    """One call of ``.zio.to_zarr``: what to write where, and how (see the accessor)."""

    #: ``"w-"``, ``"w"``, ``"a"``, ``"a-"`` or ``"r+"``, as in xarray; after
    #: :meth:`of`, never None (``"a"`` with *append_dim*, ``"r+"`` with *region*)
    mode: str = "w-"
    #: the stored chunks: None, ``"auto"`` or ``{dim: size}``
    chunks: Any = None
    #: a compressor name or codec; None: the option
    compressor: Any = None
    #: crc32c checksums on new zarr 3 arrays; None: the option
    checksums: bool | None = None
    #: mantissa bits to keep: an int (every floating-point data variable), ``{name: int}``,
    #: ``"auto"``, or None (no rounding)
    keepbits: Any = None
    #: the share of the real information that ``keepbits="auto"`` keeps
    information: float = 0.99
    #: the dimension an append extends, or None
    append_dim: Hashable | None = None
    #: a region write's ``{dim: slice}`` or ``"auto"``, or None
    region: Any = None
    #: write consolidated metadata (None: yes, where the store can hold it)
    consolidated: bool | None = None
    #: 2 or 3; None: zarr's default for a new store, the store's own otherwise
    zarr_format: int | None = None
    #: options for fsspec, for URLs
    storage_options: dict[str, Any] | None = None
    #: per-variable encoding, as for xarray
    encoding: Mapping[Hashable, Mapping[str, Any]] | None = None
    #: the group written, a path inside the store; None: the root
    group: str | None = None
    #: write stored chunks covered in part without locks, on any store
    allow_partial_chunks: bool = False
    xarray: XarrayKeywords = field(default_factory=XarrayKeywords)
    running: Running = field(default_factory=Running)
    stamp: Stamp = field(default_factory=Stamp)

    @classmethod
    def of(cls, *, mode: str | None = None, **keywords: Any) -> WriteRequest:
        """The request of a call with these keywords, each checked; ``mode=None`` means
        what it means in xarray."""
        parts: dict[str, Any] = {}
        for name, record in (("xarray", XarrayKeywords), ("running", Running), ("stamp", Stamp)):
            mine = {f.name for f in fields(record)}
            parts[name] = record(**{k: keywords.pop(k) for k in list(keywords) if k in mine})
        append_dim, region = keywords.get("append_dim"), keywords.get("region")
        return cls(mode=_mode(mode, append_dim, region), **keywords, **parts)

    def __post_init__(self) -> None:
        checks.check_mode(self.mode, self.append_dim, self.region)
        checks.check_optional_flag("consolidated", self.consolidated)
        checks.check_optional_flag("checksums", self.checksums)
        checks.check_flag("allow_partial_chunks", self.allow_partial_chunks)
        check_keepbits_argument(self.keepbits, self.information)
        object.__setattr__(self, "group", checks.check_group(self.group))
        if self.zarr_format not in (None, 2, 3):
            raise InvalidArgumentError(
                f"zarr_format must be 2, 3 or None, got {self.zarr_format!r}"
            )

    @property
    def operation(self) -> str:
        """What the write is, in words, for journals and messages."""
        if self.append_dim is not None:
            return f"append along {self.append_dim!r}"
        return "region write" if self.region is not None else f"mode={self.mode!r} write"

    def but(self, **changes: Any) -> WriteRequest:
        """This request with *changes* (fields of it or of its sub-records)."""
        for name in ("xarray", "running", "stamp"):
            record = getattr(self, name)
            mine = {f.name: changes.pop(f.name) for f in fields(record) if f.name in changes}
            if mine:
                changes[name] = replace(record, **mine)
        return replace(self, **changes)


def _mode(mode: str | None, append_dim: Any, region: Any) -> str:
    """*mode* as xarray reads it: None is ``"a"`` with *append_dim*, ``"r+"`` with
    *region*, else ``"w-"``; an explicit mode is checked with the other keywords."""
    if mode is None:
        return "a" if append_dim is not None else "r+" if region is not None else "w-"
    return mode
