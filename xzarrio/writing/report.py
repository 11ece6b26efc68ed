"""What a write did: :class:`WriteReport`, read from the store once the write is committed."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np
import xarray as xr
import zarr
from dask.utils import format_bytes
from zarr.storage import StorePath

from ..provenance import Provenance
from ..reading import open_zarr
from ..seams import ArrayV2Metadata, ArrayV3Metadata
from ..storeinfo import nbytes_under
from .plan import WritePlan

__all__ = ["WriteReport", "report_of"]


@dataclass(frozen=True, kw_only=True)
class WriteReport:
    """What a write did and what it costs on the store.

    Attributes
    ----------
    store : str
        Where the store is (an absolute path for a local store).
    variables : tuple of str
        The variables written (coordinates included).
    nbytes : int
        Logical size of the written arrays as they are in the store after the
        write (after an append: their whole length).
    nbytes_stored : int
        Bytes those arrays occupy on the store; for a new store, every byte of
        the store, metadata included. After an append or a region write it is
        measured when first read, and kept: sizing the arrays walks every
        chunk they hold, which a loop of appends to a long store would
        otherwise pay on each call.
    seconds : float
        Wall time of the write, validation to swap.
    nbytes_written : int
        Logical bytes this call wrote (the object's size): for an append, the
        appended part only. ``throughput`` is computed from it.
    provenance : Provenance
        The store's provenance after the write.
    snapshot_id : str or None
        For a write to an ``icechunk.Session``, the snapshot its commit made.
    """

    store: str
    variables: tuple[str, ...]
    nbytes: int
    #: the stored bytes, or what measures them when first asked (:attr:`nbytes_stored`)
    stored: int | Callable[[], int] = field(repr=False, compare=False)
    seconds: float
    nbytes_written: int
    mode: str
    zarr_format: int
    provenance: Provenance = field(default_factory=Provenance)
    storage_options: dict[str, Any] | None = None
    snapshot_id: str | None = None
    location: Any = field(default=None, repr=False, compare=False)  # what .open() opens

    @cached_property
    def nbytes_stored(self) -> int:
        """Bytes the written arrays occupy on the store (see the class)."""
        return self.stored if isinstance(self.stored, int) else self.stored()

    @property
    def ratio(self) -> float:
        """Compression ratio: ``nbytes / nbytes_stored``."""
        return self.nbytes / self.nbytes_stored if self.nbytes_stored else float("inf")

    @property
    def throughput(self) -> float:
        """Logical bytes written per second."""
        return self.nbytes_written / self.seconds if self.seconds > 0 else float("inf")

    def open(self, **kwargs: Any) -> xr.Dataset:
        """Reopen the written store lazily (see :func:`xzarrio.open_zarr`)."""
        if self.storage_options and "storage_options" not in kwargs:
            kwargs["storage_options"] = self.storage_options
        return open_zarr(self.location if self.location is not None else self.store, **kwargs)

    def _rows(self) -> list[tuple[str, str]]:
        speed = format_bytes(int(self.throughput)) if np.isfinite(self.throughput) else "inf"
        rows = [
            ("mode", f"{self.mode} (zarr format {self.zarr_format})"),
            ("variables", ", ".join(self.variables)),
            ("size", f"{format_bytes(self.nbytes)} ({self.nbytes:,} bytes) in the store"),
            ("written", f"{format_bytes(self.nbytes_written)} ({self.nbytes_written:,} bytes) "
                        "by this call"),
            ("stored", f"{format_bytes(self.nbytes_stored)} ({self.nbytes_stored:,} bytes)"),
            ("ratio", f"{self.ratio:.2f}"),
            ("time", f"{self.seconds:.2f} s"),
            ("throughput", f"{speed}/s (written ÷ time)"),
        ]  # fmt: skip
        if self.snapshot_id is not None:
            rows.append(("snapshot", self.snapshot_id))
        if self.provenance.history:
            rows.append(("history", str(self.provenance.history[0])))
        return rows

    def __repr__(self) -> str:
        lines = [f"<xzarrio.WriteReport {self.store!r}>"]
        return "\n".join(lines + [f"  {name:<11} : {value}" for name, value in self._rows()])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{name}</th><td style='text-align:left'>"
            f"{html.escape(value)}</td></tr>"
            for name, value in self._rows()
        )
        title = f"<b>xzarrio.WriteReport</b> {html.escape(self.store)}"
        return f"<div>{title}<table>{rows}</table></div>"

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-serialisable built-ins."""
        return {
            "store": self.store,
            "variables": list(self.variables),
            "nbytes": self.nbytes,
            "nbytes_stored": self.nbytes_stored,
            "nbytes_written": self.nbytes_written,
            "seconds": self.seconds,
            "ratio": self.ratio,
            "throughput": self.throughput,
            "mode": self.mode,
            "zarr_format": self.zarr_format,
            "snapshot_id": self.snapshot_id,
            "history": [str(entry) for entry in self.provenance.history],
        }


def report_of(
    plan: WritePlan, started: float, snapshot_id: str | None = None,
    written: dict[str, int] | None = None, *, stamped: zarr.Group | None = None,
) -> WriteReport:  # fmt: skip
    """The report of the committed write *plan*, begun at *started* (``time.perf_counter``).

    *snapshot_id* is icechunk's commit; *written* the size of every key of a
    new store, where the write saw all of them (else the store is listed).
    *stamped* is the written group as the write's stamp left it: where its
    consolidated metadata holds every array written, the report reads it rather
    than open the store again (a new store's stamp wrote to its staging, which
    the commit took away). The sizes are read from the store itself.
    """
    location = plan.target.location
    names = tuple(str(n) for n in plan.ds.variables)
    root = stamped if stamped is not None and _holds_arrays(stamped, names) else None
    if root is None:
        root = zarr.open_group(
            location.zarr_store(),
            mode="r",
            path=plan.group or "",
            zarr_format=plan.target.zarr_format,
        )
    shapes = _shapes(root, names)
    group = StorePath(location.zarr_store(), plan.group or "")
    stored: int | Callable[[], int]
    if plan.target.in_place:
        stored = _StoredSize(group, names)
    elif written is not None:
        stored = sum(written.values())
    else:
        stored = nbytes_under(group)
    return WriteReport(
        store=location.name,
        variables=names,
        nbytes=sum(int(np.prod(shape)) * itemsize for shape, itemsize in shapes.values()),
        stored=stored,
        seconds=time.perf_counter() - started,
        nbytes_written=_written_nbytes(plan),
        mode=plan.mode,
        zarr_format=plan.target.zarr_format,
        provenance=Provenance.from_attrs(root.attrs.asdict()),
        storage_options=location.storage_options,
        snapshot_id=snapshot_id,
        location=location.source,
    )


@dataclass(frozen=True)
class _StoredSize:
    """The bytes the arrays *names* under *group* of a store occupy, measured when called."""

    group: StorePath
    names: tuple[str, ...]

    def __call__(self) -> int:
        return sum(nbytes_under(self.group / name) for name in self.names)


def _written_nbytes(plan: WritePlan) -> int:
    """The logical bytes the write wrote: mode "a-" writes only the variables that
    have the append dimension."""
    if plan.mode == "a-" and plan.append_dim is not None and plan.target.existing is not None:
        return sum(int(v.nbytes) for v in plan.ds.variables.values() if plan.append_dim in v.dims)
    return int(plan.ds.nbytes)


def _holds_arrays(group: zarr.Group, names: tuple[str, ...]) -> bool:
    """Whether the consolidated metadata of *group* holds every array *names*."""
    consolidated = group.metadata.consolidated_metadata
    return consolidated is not None and all(name in consolidated.metadata for name in names)


def _shapes(root: zarr.Group, names: tuple[str, ...]) -> dict[str, tuple[tuple[int, ...], int]]:
    """The shape and item size of each array *names* of *root*.

    From the group's consolidated metadata where it has them: one metadata
    read for the whole report, not one per array.
    """
    consolidated = root.metadata.consolidated_metadata
    known = consolidated.metadata if consolidated is not None else {}
    found = {}
    for name in names:
        meta = known[name] if name in known else cast(zarr.Array[Any], root[name]).metadata
        assert isinstance(meta, ArrayV2Metadata | ArrayV3Metadata)
        found[name] = (tuple(meta.shape), int(meta.dtype.to_native_dtype().itemsize))
    return found
