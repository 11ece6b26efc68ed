"""The manifest of a variable: the digest of every chunk it holds, beside the array.

A manifest lives beside the array's chunks, in the array's own folder under
``.xzarrio/``: zarr never lists an array's folder for nodes (a folder in a
group's would make zarr warn on every listing of the group), it travels with
the array when the store is copied, and it is no attribute of the array:

- ``<array>/.xzarrio/manifest.json``: ``{"algorithm", "complete", "chunks"}``,
  ``chunks`` mapping each chunk key (relative to the array) to its digest.
  ``complete`` says that every chunk the array holds was written by xzarrio
  since the array was made: only then is a chunk missing from it an extra one.
- ``<array>/.xzarrio/manifest-<time>-<id>.json``: a region write that cannot
  lock the manifest (an object store, where region writers run side by side)
  adds its own entries as a fragment, a digest or ``null`` (deleted) per key;
  a writer that runs alone folds them into the manifest.

The manifest a reader sees is the manifest with the fragments applied in
order; the variable's digest is the digest of its chunk digests. A manifest
that does not read is a :class:`ManifestError`, never a bare ``json`` error.
The group records which of its arrays have manifests, and the digest of each
main file (:mod:`xzarrio.integrity.record`).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import xxhash
from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype
from zarr.buffer.cpu import Buffer
from zarr.storage import WrapperStore

from ..errors import ManifestError
from ..seams import wrapped_store
from ..stores import key_prefix
from .digests import DIGEST_ALGORITHM

__all__ = [
    "MANIFEST_FOLDER", "MANIFEST_NAME", "Manifest", "ManifestError", "StoredManifest",
    "delete_manifest", "keeps_manifests", "manifest_files", "manifest_folder", "read_manifest",
    "read_stored", "update_manifest",
]  # fmt: skip

#: the folder in an array's folder that holds its manifest and fragments
MANIFEST_FOLDER = ".xzarrio"
#: the main file of a manifest, in :data:`MANIFEST_FOLDER`
MANIFEST_NAME = "manifest.json"
_MAIN = MANIFEST_NAME


@dataclass(frozen=True)
class Manifest:
    """The digests of a variable's chunks, by chunk key relative to the array."""

    chunks: Mapping[str, str] = field(default_factory=dict)
    #: every chunk the array holds is in :attr:`chunks` (written by xzarrio since it was made)
    complete: bool = True
    algorithm: str = DIGEST_ALGORITHM

    def to_bytes(self) -> bytes:
        """The manifest's file, canonical JSON: the same chunks give the same bytes."""
        complete = json.dumps(self.complete)
        return f'{self._algorithm_and_chunks},"complete":{complete}}}'.encode()

    @cached_property
    def digest(self) -> str:
        """The variable's digest: the digest of the manifest's chunk digests (canonical
        JSON), whether or not it is complete, so that the same data give the same one."""
        return xxhash.xxh3_128_hexdigest(f"{self._algorithm_and_chunks}}}".encode())

    @cached_property
    def _algorithm_and_chunks(self) -> str:
        """The canonical JSON of the manifest's first two keys, open at its end: a
        manifest of a long array is serialised once for its file and its digest."""
        algorithm = json.dumps(self.algorithm)
        chunks = json.dumps(self.chunks, sort_keys=True, separators=(",", ":"))
        return f'{{"algorithm":{algorithm},"chunks":{chunks}'

    def updated(self, changes: Mapping[str, str | None]) -> Manifest:
        """This manifest with *changes* (a digest, or None for a chunk deleted) applied."""
        chunks = dict(self.chunks)
        for key, digest in changes.items():
            if digest is None:
                chunks.pop(key, None)
            else:
                chunks[key] = digest
        return Manifest(chunks, self.complete, self.algorithm)


def keeps_manifests(store: Store) -> bool:
    """Whether *store* can hold a manifest: an icechunk repository holds zarr's keys only
    (and keeps its own record of every chunk)."""
    inner = wrapped_store(store) if isinstance(store, WrapperStore) else store  # a write's wrapper
    return not type(inner).__module__.startswith("icechunk")


def manifest_folder(array_path: str) -> str:
    """The folder (a key prefix, with its ``/``) of the manifest of the array at *array_path*."""
    return f"{key_prefix(array_path)}{MANIFEST_FOLDER}/"


async def _get_json(store: Store, key: str) -> Any:
    """The JSON in *key*, None if absent; :class:`ManifestError` if it does not read."""
    found = await store.get(key, prototype=default_buffer_prototype())
    if found is None:
        return None
    try:
        return json.loads(found.to_bytes())
    except ValueError as error:  # json's own, and a UnicodeDecodeError
        raise ManifestError(f"{key!r} is not JSON ({error})", key=key) from None


def _chunks_of(record: Any, key: str) -> dict[str, str | None]:
    """The ``chunks`` of a manifest's file or fragment, checked."""
    chunks = record.get("chunks") if isinstance(record, dict) else None
    if not isinstance(chunks, dict) or not all(
        isinstance(k, str) and (d is None or isinstance(d, str)) for k, d in chunks.items()
    ):
        raise ManifestError(
            f"{key!r} is not a manifest: expected a JSON object whose 'chunks' maps chunk "
            f"keys to digests, got {str(record)[:80]!r}",
            key=key,
        )
    return chunks


async def _read_main(store: Store, key: str) -> Manifest | None:
    record = await _get_json(store, key)
    if record is None:
        return None
    chunks = _chunks_of(record, key)
    complete, algorithm = record.get("complete"), record.get("algorithm")
    if not isinstance(complete, bool) or not isinstance(algorithm, str) or None in chunks.values():
        raise ManifestError(
            f"{key!r} is not a manifest: expected 'algorithm' (a string), 'complete' (true or "
            f"false) and a digest per chunk, got {str(record)[:80]!r}",
            key=key,
        )
    return Manifest(cast("dict[str, str]", chunks), complete, algorithm)


async def manifest_files(store: Store, array_path: str) -> tuple[bool, list[str]]:
    """Whether the array has a manifest, and the keys of its fragments in order."""
    folder = manifest_folder(array_path)
    keys = [key async for key in store.list_prefix(folder)]
    fragments = sorted(k for k in keys if k.rsplit("/", 1)[-1].startswith("manifest-"))
    return folder + _MAIN in keys, fragments


@dataclass(frozen=True)
class StoredManifest:
    """A manifest as the store holds it: its main file, and its fragments."""

    #: the main file (None: there is none)
    main: Manifest | None
    #: the keys of the fragments, in the order they apply
    fragments: tuple[str, ...]
    #: the main file with the fragments applied (None: neither is there, or not asked for)
    merged: Manifest | None

    @property
    def exists(self) -> bool:
        """Whether the array has a manifest (a main file or fragments)."""
        return self.main is not None or bool(self.fragments)


async def read_stored(store: Store, array_path: str, *, merge: bool = True) -> StoredManifest:
    """The manifest of the array at *array_path* as stored: its main file, its fragments and,
    if *merge*, the two applied (reading every fragment).

    Raises :class:`ManifestError` for a file that does not read as a manifest.
    """
    has_main, fragments = await manifest_files(store, array_path)
    main = await _read_main(store, manifest_folder(array_path) + _MAIN) if has_main else None
    if not merge or (main is None and not fragments):
        return StoredManifest(main, tuple(fragments), None)
    merged = main if main is not None else Manifest(complete=False)
    changes = await asyncio.gather(*(_get_json(store, key) for key in fragments))
    for key, change in zip(fragments, changes, strict=True):
        if change is not None:  # folded meanwhile by a writer that runs alone
            merged = merged.updated(_chunks_of(change, key))
    return StoredManifest(main, tuple(fragments), merged)


async def read_manifest(store: Store, array_path: str) -> Manifest | None:
    """The manifest of the array at *array_path* with its fragments applied; None if none.

    Raises :class:`ManifestError` for a file that does not read as a manifest.
    """
    if not keeps_manifests(store):
        return None
    return (await read_stored(store, array_path)).merged


async def update_manifest(
    store: Store,
    array_path: str,
    changes: Mapping[str, str | None],
    *,
    old: StoredManifest | None,
    alone: bool,
) -> Manifest | None:
    """Record *changes* to the array's chunks (digests by chunk key, None: deleted); return
    the manifest now in its main file, or None where a fragment was added.

    *old* is the manifest as stored before, read by this writer (None: the array is new,
    and gets a complete manifest). A writer that runs *alone* folds the fragments into
    the main file; one that does not adds a fragment.
    """
    if not alone and old is not None:
        name = f"manifest-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
        record = {"algorithm": DIGEST_ALGORITHM, "chunks": dict(changes)}
        data = json.dumps(record, sort_keys=True).encode()
        await store.set(manifest_folder(array_path) + name, Buffer.from_bytes(data))
        return None
    base = Manifest(complete=old is None)
    if old is not None:
        base = old.merged if old.merged is not None else Manifest(complete=False)
    manifest = base.updated(changes)
    await store.set(manifest_folder(array_path) + _MAIN, Buffer.from_bytes(manifest.to_bytes()))
    for key in old.fragments if old is not None else ():
        await store.delete(key)
    return manifest


async def delete_manifest(store: Store, array_path: str) -> None:
    """Remove the manifest of the array at *array_path*, fragments and all (not the other
    files xzarrio keeps in its folder)."""
    has_main, fragments = await manifest_files(store, array_path)
    for key in [manifest_folder(array_path) + _MAIN] * has_main + fragments:
        await store.delete(key)
