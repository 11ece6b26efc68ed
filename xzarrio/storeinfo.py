"""The storage report of a store: what each variable is and what it costs on disk.

The numbers come from zarr itself (``nbytes_stored``, ``nchunks_initialized``,
the store's ``getsize_prefix``), so they are the store's real ones.
"""

from __future__ import annotations

import html
import os
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from dask.utils import format_bytes
from zarr.storage import StorePath

from .codecs import describe_codecs, quiet_spec_notes
from .rounding import MANTISSA_BITS, kept_bits_of
from .seams import PARTIAL_SUFFIX, fs_du, fs_has_du, sync
from .stores import key_prefix, open_root, source_of_store

__all__ = ["StoreInfo", "VariableInfo", "nbytes_under", "store_info", "store_nbytes_stored"]


def _ratio(nbytes: int, stored: int) -> float:
    return nbytes / stored if stored else float("inf") if nbytes else 1.0


@dataclass(frozen=True, kw_only=True)
class VariableInfo:
    """What one array of a store holds and what it occupies."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    codecs: str
    nbytes: int
    nbytes_stored: int
    chunks_initialized: int
    chunks_total: int
    #: the mantissa bits its values keep (CF ``quantization_nsb``), None if not rounded
    keepbits: int | None = None

    @property
    def ratio(self) -> float:
        """Logical bytes ÷ stored bytes (above 1 means it compressed)."""
        return _ratio(self.nbytes, self.nbytes_stored)


@dataclass(frozen=True, kw_only=True)
class StoreInfo:
    """The storage report of a zarr store.

    ``nbytes_stored`` counts every byte in the store (chunks and metadata),
    so it is more than the sum of the variables' when metadata is consolidated.
    """

    store: str
    zarr_format: int
    variables: tuple[VariableInfo, ...]
    nbytes_stored: int

    @property
    def nbytes(self) -> int:
        """The logical size of all arrays in the store."""
        return sum(v.nbytes for v in self.variables)

    @property
    def ratio(self) -> float:
        """Logical bytes ÷ bytes stored, over the whole store."""
        return _ratio(self.nbytes, self.nbytes_stored)

    def __getitem__(self, name: str) -> VariableInfo:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(
            f"no variable {name!r} in {self.store!r}; it has {[v.name for v in self.variables]}"
        )

    def _rows(self) -> list[list[str]]:
        """The table: a column of kept bits only where some variable is rounded."""
        rounded = any(v.keepbits is not None for v in self.variables)
        rows = [
            ["name", "dtype", "shape", "chunks", "codecs", "size", "stored", "ratio", "chunks init"]
            + (["kept bits"] if rounded else [])
        ]
        for v in self.variables:
            rows.append(
                [
                    v.name,
                    v.dtype,
                    " × ".join(map(str, v.shape)) or "()",
                    " × ".join(map(str, v.chunks)) or "()",
                    v.codecs,
                    format_bytes(v.nbytes),
                    format_bytes(v.nbytes_stored),
                    f"{v.ratio:.1f}",
                    f"{v.chunks_initialized}/{v.chunks_total}",
                ]
                + ([_kept_bits(v)] if rounded else [])
            )
        total = ["total", "", "", "", "", format_bytes(self.nbytes)]
        total += [format_bytes(self.nbytes_stored), f"{self.ratio:.1f}", ""]
        rows.append(total + ([""] if rounded else []))
        return rows

    def __repr__(self) -> str:
        rows = self._rows()
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        right = {5, 6, 7, 8, 9}
        lines = [f"<xzarrio.StoreInfo {self.store!r} (zarr format {self.zarr_format})>"]
        for i, row in enumerate(rows):
            cells = [
                c.rjust(w) if j in right else c.ljust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
            if i == 0 or i == len(rows) - 2:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = self._rows()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in rows[1:]
        )
        title = html.escape(f"StoreInfo {self.store} (zarr format {self.zarr_format})")
        return (
            f"<div><strong>{title}</strong><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the report."""
        return {
            "store": self.store,
            "zarr_format": self.zarr_format,
            "nbytes": self.nbytes,
            "nbytes_stored": self.nbytes_stored,
            "variables": [
                {**{k: getattr(v, k) for k in VariableInfo.__dataclass_fields__}, "ratio": v.ratio}
                for v in self.variables
            ],
        }


def _kept_bits(variable: VariableInfo) -> str:
    """``"6 of 23"``: the mantissa bits a rounded variable keeps, of those its dtype has."""
    if variable.keepbits is None:
        return ""
    return f"{variable.keepbits} of {MANTISSA_BITS[np.dtype(variable.dtype).itemsize]}"


def store_nbytes_stored(node: zarr.Group | zarr.Array[Any]) -> int:
    """Every byte under *node* (a group, or an array) in its store: chunks and metadata.

    Other writers may be at work meanwhile: a key that vanishes between the
    listing and its size is not counted, nor a file another writer is still
    writing (zarr's ``.partial`` files).
    """
    return nbytes_under(node.store_path)


def nbytes_under(path: StorePath) -> int:
    """Every byte under *path* of a store (see :func:`store_nbytes_stored`)."""
    store = path.store
    if isinstance(store, zarr.storage.FsspecStore) and fs_has_du(store.fs):
        # one listing with sizes, rather than a request per key
        prefix = f"{store.path}/{path.path}".rstrip("/")
        return sync(fs_du(store.fs, prefix))
    if isinstance(store, zarr.storage.ObjectStore):
        return sync(store.getsize_prefix(key_prefix(path.path)))  # one listing, with sizes
    if isinstance(store, zarr.storage.LocalStore):
        # one walk of the folder, not a trip to zarr's event loop per key
        return _local_sizes_under(store.root / path.path)
    return sync(_sizes_under(store, key_prefix(path.path)))


def _local_sizes_under(folder: Path) -> int:
    """Every byte of the files under *folder* but zarr's partial writes."""
    total, folders = 0, [folder]
    while folders:
        try:
            entries = os.scandir(folders.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
                elif not entry.name.endswith(PARTIAL_SUFFIX):
                    with suppress(FileNotFoundError):  # removed meanwhile
                        total += entry.stat(follow_symlinks=False).st_size
    return total


async def _sizes_under(store: Any, prefix: str) -> int:
    total = 0
    async for key in store.list_prefix(prefix):
        if key.endswith(PARTIAL_SUFFIX):
            continue
        try:
            total += int(await store.getsize(key))
        except FileNotFoundError:
            continue
    return total


def _variable_info(name: str, array: zarr.Array[Any]) -> VariableInfo:
    codecs = tuple(array.filters) + tuple(array.compressors)
    return VariableInfo(
        name=name,
        dtype=str(array.dtype),
        shape=tuple(array.shape),
        chunks=tuple(array.chunks),
        codecs=describe_codecs(codecs),
        nbytes=int(array.nbytes),
        nbytes_stored=store_nbytes_stored(array),
        chunks_initialized=int(array.nchunks_initialized),
        chunks_total=int(array.nchunks),
        keepbits=kept_bits_of(array.attrs),
    )


def store_info(
    store: Any,
    *,
    group: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> StoreInfo:
    """The storage report of a store.

    Parameters
    ----------
    store : str, path or zarr store
        A local path, a URL (with *storage_options*) or a zarr store object.
    group : str, optional
        The group inside the store.

    Raises
    ------
    FileNotFoundError
        When a local store does not exist.
    ValueError
        When the path holds no zarr store.
    """
    root = open_root(store, group=group, storage_options=storage_options)
    with quiet_spec_notes():
        arrays = sorted(root.arrays(), key=lambda item: item[0])
    source = source_of_store(store)
    return StoreInfo(
        store=source if isinstance(source, str) else repr(source),
        zarr_format=root.metadata.zarr_format,
        variables=tuple(_variable_info(name, array) for name, array in arrays),
        nbytes_stored=store_nbytes_stored(root),
    )
