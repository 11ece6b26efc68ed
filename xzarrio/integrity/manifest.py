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
order; the variable's digest is the digest of its chunk digests.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import xxhash
from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype
from zarr.buffer.cpu import Buffer
from zarr.storage import WrapperStore

from ..seams import wrapped_store
from .digests import DIGEST_ALGORITHM

__all__ = [
    "MANIFEST_FOLDER", "Manifest", "delete_manifest", "keeps_manifests", "manifest_folder",
    "read_manifest", "update_manifest", "write_manifest",
]  # fmt: skip

#: the folder in an array's folder that holds its manifest and fragments
MANIFEST_FOLDER = ".xzarrio"
_MAIN = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    """The digests of a variable's chunks, by chunk key relative to the array."""

    chunks: Mapping[str, str] = field(default_factory=dict)
    #: every chunk the array holds is in :attr:`chunks` (written by xzarrio since it was made)
    complete: bool = True
    algorithm: str = DIGEST_ALGORITHM

    def to_bytes(self) -> bytes:
        """The manifest's file, canonical: the same chunks give the same bytes."""
        record = {"algorithm": self.algorithm, "complete": self.complete, "chunks": self.chunks}
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()

    @property
    def digest(self) -> str:
        """The variable's digest: the digest of the manifest's chunk digests (canonical
        JSON), whether or not it is complete, so that the same data give the same one."""
        record = {"algorithm": self.algorithm, "chunks": self.chunks}
        return xxhash.xxh3_128_hexdigest(
            json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
        )

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
    path = array_path.strip("/")
    return f"{path}/{MANIFEST_FOLDER}/" if path else f"{MANIFEST_FOLDER}/"


async def _get_json(store: Store, key: str) -> Any:
    found = await store.get(key, prototype=default_buffer_prototype())
    return None if found is None else json.loads(found.to_bytes())


async def _files(store: Store, array_path: str) -> tuple[bool, list[str]]:
    """Whether the array has a manifest, and the keys of its fragments in order."""
    folder = manifest_folder(array_path)
    keys = [key async for key in store.list_prefix(folder)]
    fragments = sorted(k for k in keys if k.rsplit("/", 1)[-1].startswith("manifest-"))
    return folder + _MAIN in keys, fragments


async def read_manifest(store: Store, array_path: str) -> Manifest | None:
    """The manifest of the array at *array_path* with its fragments applied; None if none."""
    if not keeps_manifests(store):
        return None
    has_main, fragments = await _files(store, array_path)
    if not has_main and not fragments:
        return None
    manifest = Manifest(complete=False)
    if has_main:
        record = await _get_json(store, manifest_folder(array_path) + _MAIN)
        manifest = Manifest(record["chunks"], bool(record["complete"]), record["algorithm"])
    changes = await asyncio.gather(*(_get_json(store, key) for key in fragments))
    for change in changes:
        manifest = manifest.updated(change["chunks"])
    return manifest


async def write_manifest(store: Store, array_path: str, manifest: Manifest) -> None:
    """Make *manifest* the array's, folding its fragments (the writer runs alone)."""
    _, fragments = await _files(store, array_path)
    await store.set(manifest_folder(array_path) + _MAIN, Buffer.from_bytes(manifest.to_bytes()))
    for key in fragments:
        await store.delete(key)


async def update_manifest(
    store: Store,
    array_path: str,
    changes: Mapping[str, str | None],
    *,
    new: bool,
    alone: bool,
) -> None:
    """Record *changes* to the array's chunks (digests by chunk key, None: deleted).

    A *new* array gets a complete manifest. A writer that runs *alone* folds
    the manifest; one that does not adds a fragment.
    """
    if not alone and not new:
        name = f"manifest-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
        record = {"algorithm": DIGEST_ALGORITHM, "chunks": dict(changes)}
        data = json.dumps(record, sort_keys=True).encode()
        await store.set(manifest_folder(array_path) + name, Buffer.from_bytes(data))
        return
    old = None if new else await read_manifest(store, array_path)
    base = old if old is not None else Manifest(complete=new)
    await write_manifest(store, array_path, base.updated(changes))


async def delete_manifest(store: Store, array_path: str) -> None:
    """Remove the manifest of the array at *array_path*, fragments and all (not the other
    files xzarrio keeps in its folder)."""
    has_main, fragments = await _files(store, array_path)
    for key in [manifest_folder(array_path) + _MAIN] * has_main + fragments:
        await store.delete(key)
