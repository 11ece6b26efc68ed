"""``xzarrio.verify``: read every chunk of a store and say what is not as written.

Each variable is checked chunk by chunk, in batches that run as tasks of the
chosen scheduler. A chunk is read as stored bytes, then:

- its crc32c checksum is checked (the stored bytes end with it);
- with ``quick=False``, it is decoded by the array's codecs, and the digest
  of its values is compared with the one its manifest holds.

The store's listing gives what is missing (a chunk in the manifest but
absent: an absent chunk not in it is fill value, as zarr means) and what is
extra (a key outside the array's chunk grid, or a chunk that a complete
manifest does not hold). Each group's record of its manifests
(:mod:`~xzarrio.integrity.record`) tells a manifest gone, or not the one
xzarrio wrote last; a manifest that does not read is a problem too, and then
the digest of all the array's chunks is compared with the record's. What a
store cannot tell (no checksums, no manifest, sharded chunks) is said in
:attr:`VerifyReport.unverified`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np
import zarr
from dask.delayed import delayed
from zarr.buffer import default_buffer_prototype

from .. import options
from ..codecs import quiet_spec_notes
from ..errors import ArgumentTypeError, ChecksumMismatchError, InvalidArgumentError
from ..running import choose_scheduler, compute, worker_count
from ..seams import sync
from ..stores import ZARR_MARKERS, locate, open_root
from .checksums import checked, has_checksum
from .digests import chunk_digest
from .manifest import (
    MANIFEST_FOLDER,
    Manifest,
    ManifestError,
    keeps_manifests,
    manifest_files,
    manifest_folder,
    read_stored,
)
from .readback import Chunk, chunk_prefix, decode_chunk, stored_chunks, stored_grid
from .record import MANIFEST_KEY, Recorded, distrust, read_record

__all__ = ["Problem", "VerifyReport", "verify"]


#: the decoded data one task of a check reads at most (one chunk at least)
BATCH_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a store: which variable, which chunk, what."""

    #: the variable (its path in the store)
    variable: str
    #: the chunk's key, relative to the array (``"c/0/3"``, ``"0.3"``)
    chunk: str
    #: one of ``checksum``, ``undecodable``, ``missing``, ``extra``, ``swapped``, ``digest``,
    #: ``manifest`` (the manifest's file here, and ``*`` for all the array's chunks at once)
    kind: str
    #: what is wrong, in words
    message: str

    def __str__(self) -> str:
        return f"{self.variable} {self.chunk}: {self.message}"


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`xzarrio.verify` found."""

    store: str
    #: the variables checked, by their path in the store
    variables: tuple[str, ...]
    #: everything found wrong, in variable and chunk order
    problems: tuple[Problem, ...]
    #: what could not be checked, one line per variable it concerns
    unverified: tuple[str, ...]
    #: the chunks read
    chunks_checked: int
    #: the bytes read from the store
    nbytes_read: int
    #: whether the values were decoded and their digests compared (not ``quick``)
    full: bool
    seconds: float = field(default=0.0, compare=False)

    @property
    def ok(self) -> bool:
        """Whether nothing was found wrong."""
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok

    def summary(self) -> str:
        """One line: whole or not, and how much was read."""
        verdict = "whole" if self.ok else f"{len(self.problems)} problem(s)"
        how = "checksums, decoding and digests" if self.full else "checksums only (quick)"
        count = len(self.variables)
        return (
            f"{self.store}: {verdict}: {self.chunks_checked} chunks of {count} "
            f"variable{'s' if count != 1 else ''} read ({self.nbytes_read / 2**20:.1f} MiB, "
            f"{self.seconds:.2f} s), {how}"
        )

    def __repr__(self) -> str:
        lines = [f"<VerifyReport {self.summary()}>"]
        lines += [f"  {problem}" for problem in self.problems]
        lines += [f"  not verified: {note}" for note in self.unverified]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-serialisable values."""
        return {
            "store": self.store,
            "ok": self.ok,
            "variables": list(self.variables),
            "problems": [vars(p) for p in self.problems],
            "unverified": list(self.unverified),
            "chunks_checked": self.chunks_checked,
            "nbytes_read": self.nbytes_read,
            "full": self.full,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class _Array:
    """What a task needs of one array: the array, its manifest, what to check."""

    array: zarr.Array[Any]
    manifest: Manifest | None
    checksummed: bool
    #: how each chunk is checked: "decode" (and its digest compared, where recorded),
    #: "checksum" (its crc32c only), or "skip" (quick, and nothing to check quickly)
    how: str
    #: what its group records of its manifest (None: nothing)
    recorded: Recorded | None = None
    #: why its manifest cannot be trusted: the file's key (relative to the array) and what
    distrusted: tuple[str, str] | None = None
    #: whether its manifest has fragments
    fragments: bool = False

    @property
    def name(self) -> str:
        return self.array.path

    @property
    def rebuilt(self) -> bool:
        """Whether the digest of all its chunks is compared with its group's record: its
        manifest cannot be trusted, and the record says what the whole was."""
        recorded = self.recorded
        return (
            self.distrusted is not None
            and self.how == "decode"
            and not self.fragments  # the record holds the main file's digest
            and recorded is not None
            and recorded.digest is not None
            and recorded.complete
        )


def verify(
    store: Any,
    *,
    variables: Sequence[str] | None = None,
    quick: bool = False,
    group: str | None = None,
    storage_options: dict[str, Any] | None = None,
    scheduler: Any = None,
    num_workers: int | None = None,
    progress: bool | None = None,
) -> VerifyReport:
    """Read every chunk of a store and report what is not as it was written.

    Every stored chunk of every array (or of *variables*) is read, in
    parallel. Its crc32c checksum is checked where it has one; unless
    *quick*, it is decoded and the digest of its values compared with the
    one its variable's manifest recorded when it was written. From the
    store's listing come the chunks in the manifest but absent, and the
    extra ones. A manifest that does not read, or one that is gone or is not
    the one xzarrio wrote last though its group records it, is a problem too.
    Stores written by other tools or earlier versions are
    checked as far as they can be: every chunk decodes, checksums where
    there are; :attr:`VerifyReport.unverified` says what could not be.

    Parameters
    ----------
    store : str, path, zarr store or icechunk.Session
        The store, as :func:`xzarrio.open_zarr` takes it.
    variables : list of str, optional
        The variables to check (paths in the store); default all.
    quick : bool, default False
        Check checksums and the listing only: no decoding, no digests.
    group, storage_options
        As for :func:`xzarrio.open_zarr`.
    scheduler, num_workers, progress
        As for :meth:`Dataset.zio.to_zarr <xarray.Dataset.zio.to_zarr>`: chunks are read by tasks
        of the scheduler, a progress bar on stderr if *progress*.

    Returns
    -------
    VerifyReport
        ``.ok`` when whole; ``.problems`` name the variable, the chunk key
        and what is wrong.

    Examples
    --------
    >>> import numpy as np, xarray as xr, xzarrio
    >>> path = getfixture("tmp_path") / "checked.zarr"
    >>> _ = xr.Dataset({"t": ("x", np.arange(100.0))}).zio.to_zarr(path, chunks={"x": 10})
    >>> xzarrio.verify(path).ok
    True
    """
    if not isinstance(quick, bool | np.bool_):  # "no" would read as True
        raise ArgumentTypeError(f"quick takes True or False, got {quick!r}")
    with quiet_spec_notes():
        return _verify(
            store, variables, quick, group, storage_options, scheduler, num_workers, progress
        )


def _verify(
    store: Any, variables: Sequence[str] | None, quick: bool, group: str | None,
    storage_options: dict[str, Any] | None, scheduler: Any, num_workers: int | None,
    progress: bool | None,
) -> VerifyReport:  # fmt: skip
    started = time.perf_counter()
    location = locate(store, storage_options)
    root = open_root(store, group=group, storage_options=storage_options)
    chosen = choose_scheduler(scheduler, location, reading=True)
    workers = worker_count(num_workers)
    show = options.OPTIONS["progress"] if progress is None else bool(progress)
    found, groups = _nodes(root)
    arrays = _chosen(found, variables)
    records, problems = sync(_records(root, groups))
    checks = sync(_gather(_prepare(a, quick, _recorded(a, records)) for a in arrays))
    listed = sync(_gather(_listing(check) for check in checks))
    if variables is None:
        problems += _recorded_but_absent(root, records, found)
    tasks, owners, rebuilt = [], [], []
    checked = 0
    recorded = any(check.manifest is not None for check in checks)
    for check, keys in zip(checks, listed, strict=True):
        if keys is None:
            problems.append(_gone(check))  # and its manifest with it
            continue
        if check.distrusted is not None:
            key, what = check.distrusted
            problems.append(Problem(check.name, key, "manifest", what))
            if check.rebuilt:
                rebuilt.append(check)
        grid = stored_grid(check.array)
        problems += _from_listing(check, keys, grid)
        present = [(key, coords) for key, coords in grid.items() if key in keys]
        if check.how == "skip":
            continue
        checked += len(present)
        batches = list(_batches(check, present))
        tasks += [delayed(_check_batch)(check, batch) for batch in batches]
        owners += [check] * len(batches)
    results = compute(*tasks, scheduler=chosen, num_workers=workers, progress=show)
    digests: dict[str, dict[str, str]] = {check.name: {} for check in checks}
    for owner, (found_here, _, seen) in zip(owners, results, strict=True):
        problems += found_here
        digests[owner.name].update(seen)
    problems += [problem for check in rebuilt for problem in _rebuilt(check, digests)]
    return VerifyReport(
        store=location.shown,
        variables=tuple(check.name for check in checks),
        problems=tuple(sorted(problems, key=lambda p: (p.variable, p.chunk))),
        unverified=tuple(note for check in checks for note in _not_verified(check, recorded)),
        chunks_checked=checked,
        nbytes_read=sum(read for _, read, _ in results),
        full=not quick,
        seconds=time.perf_counter() - started,
    )


def _nodes(root: zarr.Group) -> tuple[dict[str, zarr.Array[Any]], list[str]]:
    """The arrays of the group and of the groups under it, by their path under it, and
    the paths in the store of the group and of the groups under it."""
    arrays, groups = {}, [root.path]
    for name, node in root.members(max_depth=None):
        if isinstance(node, zarr.Array):
            arrays[name] = node
        else:
            groups.append(node.path)
    return arrays, groups


def _chosen(
    found: dict[str, zarr.Array[Any]], variables: Sequence[str] | None
) -> list[zarr.Array[Any]]:
    """The arrays named in *variables*, or all of *found*, in order."""
    if variables is None:
        return [found[name] for name in sorted(found)]
    unknown = [name for name in variables if name not in found]
    if unknown:
        raise InvalidArgumentError(f"no variable {unknown} in the store; it has {sorted(found)}")
    return [found[name] for name in variables]


async def _records(
    root: zarr.Group, groups: list[str]
) -> tuple[dict[str, dict[str, Recorded]], list[Problem]]:
    """Each group's record of its manifests, by the group's path (groups without one are
    left out), and a problem for each record that does not read."""
    store = root.store_path.store
    if not keeps_manifests(store):
        return {}, []

    async def read(path: str) -> dict[str, Recorded] | Problem | None:
        try:
            return await read_record(store, path)
        except ManifestError as error:
            return Problem(path or "/", error.key.rsplit("/", 1)[-1], "manifest", str(error))

    found = await _gather(read(path) for path in groups)
    records = {path: r for path, r in zip(groups, found, strict=True) if isinstance(r, dict)}
    return records, [r for r in found if isinstance(r, Problem)]


def _recorded(array: zarr.Array[Any], records: dict[str, dict[str, Recorded]]) -> Recorded | None:
    """What the group of *array* records of its manifest."""
    group, _, name = array.path.rpartition("/")
    return records.get(group, {}).get(name)


def _recorded_but_absent(
    root: zarr.Group, records: dict[str, dict[str, Recorded]], found: dict[str, zarr.Array[Any]]
) -> list[Problem]:
    """A problem for each array a group records a manifest of, which the store does not hold."""
    paths = {array.path for array in found.values()}
    marker = "zarr.json" if root.metadata.zarr_format == 3 else ".zarray"
    return [
        Problem(
            path,
            marker,
            "missing",
            "its group records its manifest, but the store holds no such array: deleted since",
        )
        for group, record in records.items()
        for path in (f"{group}/{name}" if group else name for name in record)
        if path not in paths
    ]


async def _prepare(array: zarr.Array[Any], quick: bool, recorded: Recorded | None) -> _Array:
    """The array with its manifest, whether its chunks end with a checksum, and how to
    check them; *recorded*: what its group records of its manifest."""
    metadata = array.metadata
    sharded = metadata.zarr_format == 3 and array.shards is not None
    codecs = getattr(metadata, "codecs", ())
    checksummed = not sharded and bool(codecs) and has_checksum(codecs[-1:])
    how = "decode"
    if quick and not sharded:  # a shard's checksums are inside it: it is decoded
        how = "checksum" if checksummed else "skip"
    if sharded or not keeps_manifests(array.store_path.store):
        return _Array(array, None, checksummed, how)
    manifest, distrusted, fragments = await _manifest_of(array, recorded)
    return _Array(array, manifest, checksummed, how, recorded, distrusted, fragments)


async def _manifest_of(
    array: zarr.Array[Any], recorded: Recorded | None
) -> tuple[Manifest | None, tuple[str, str] | None, bool]:
    """The array's manifest (None: none that reads), why it cannot be trusted (the key of
    its file, relative to the array, and what), and whether it has fragments."""
    store = array.store_path.store
    try:
        stored = await read_stored(store, array.path)
    except ManifestError as error:
        _, fragments = await manifest_files(store, array.path)
        key = MANIFEST_FOLDER + "/" + error.key.removeprefix(manifest_folder(array.path))
        return None, (key, f"its manifest does not read: {error}"), bool(fragments)
    what = distrust(stored, recorded)
    distrusted = None if what is None else (MANIFEST_KEY, f"its manifest {what}")
    return stored.merged, distrusted, bool(stored.fragments)


async def _listing(check: _Array) -> set[str] | None:
    """The array's keys that may be chunks, relative to it; None if its own metadata is
    gone (the group's consolidated metadata still names it)."""
    prefix = chunk_prefix(check.array)
    ignored = (MANIFEST_FOLDER + "/", *ZARR_MARKERS, ".zattrs")
    keys = set()
    described = False
    async for key in check.array.store_path.store.list_prefix(prefix):
        relative = key.removeprefix(prefix)
        described = described or relative in ZARR_MARKERS
        if not relative.startswith(ignored):
            keys.add(relative)
    return keys if described else None


async def _gather(coroutines: Iterable[Any]) -> list[Any]:
    return list(await asyncio.gather(*coroutines))


def _gone(check: _Array) -> Problem:
    marker = "zarr.json" if check.array.metadata.zarr_format == 3 else ".zarray"
    return Problem(
        check.name, marker, "missing",
        "the array's own metadata is gone with its folder; the group's consolidated "
        "metadata still names it",
    )  # fmt: skip


def _from_listing(check: _Array, keys: set[str], grid: dict[str, Any]) -> list[Problem]:
    """What the listing alone tells: keys outside the grid, chunks missing or not written."""
    problems = [
        Problem(check.name, key, "extra", "an extra key, outside the array's chunk grid")
        for key in sorted(keys - set(grid))
    ]
    if check.manifest is None:
        return problems
    recorded = set(check.manifest.chunks)
    problems += [
        Problem(check.name, key, "missing", "in the manifest but absent from the store")
        for key in sorted(recorded - keys)
    ]
    if check.manifest.complete:
        problems += [
            Problem(check.name, key, "extra", "an extra chunk: not written by xzarrio")
            for key in sorted((keys & set(grid)) - recorded)
        ]
    return problems


def _batches(check: _Array, keys: list[Chunk]) -> Iterable[list[Chunk]]:
    """*keys* in batches of about :data:`BATCH_BYTES` of decoded data."""
    chunk_bytes = prod(stored_chunks(check.array)) * check.array.dtype.itemsize
    size = max(1, BATCH_BYTES // max(chunk_bytes, 1))
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def _check_batch(check: _Array, keys: list[Chunk]) -> tuple[list[Problem], int, dict[str, str]]:
    """Read and check *keys* of one array; the problems found, the bytes read, and the
    digests of the chunks where the whole is compared with its group's record."""
    return sync(_check_keys(check, keys))


async def _check_keys(
    check: _Array, keys: list[Chunk]
) -> tuple[list[Problem], int, dict[str, str]]:
    store = check.array.store_path.store
    prefix = chunk_prefix(check.array)
    prototype = default_buffer_prototype()
    stored = await asyncio.gather(
        *(store.get(prefix + key, prototype=prototype) for key, _ in keys)
    )
    present = [(chunk, data) for chunk, data in zip(keys, stored, strict=True) if data is not None]
    # a chunk deleted since it was listed is fill value now
    results = await asyncio.gather(*(_check_chunk(check, chunk, data) for chunk, data in present))
    nbytes = sum(len(data) for _, data in present)
    digests = {
        chunk[0]: digest
        for (chunk, _), (_, digest) in zip(present, results, strict=True)
        if digest is not None
    }
    return [problem for found, _ in results for problem in found], nbytes, digests


async def _check_chunk(check: _Array, chunk: Chunk, data: Any) -> tuple[list[Problem], str | None]:
    """The problems of one chunk, and the digest of its values where it was taken."""
    key, coords = chunk
    try:
        if check.how == "checksum":
            await asyncio.to_thread(checked, data.as_numpy_array())
            return [], None
        values = await decode_chunk(check.array, coords, data)
    except ChecksumMismatchError as error:
        return [Problem(check.name, key, "checksum", f"checksum mismatch: {error}")], None
    except Exception as error:  # whatever a codec raises on bytes it cannot decode
        return [Problem(check.name, key, "undecodable", f"does not decode: {error!r}")], None
    if check.how != "decode" or (check.manifest is None and not check.rebuilt):
        return [], None
    digest = await asyncio.to_thread(chunk_digest, values)
    return (_compare(check, key, digest) if check.manifest is not None else []), digest


def _rebuilt(check: _Array, digests: dict[str, dict[str, str]]) -> list[Problem]:
    """For an array whose manifest cannot be trusted: a problem if the digest of all its
    chunks is not the one its group records (a chunk that does not decode has none)."""
    assert check.recorded is not None
    if Manifest(digests[check.name]).digest == check.recorded.digest:
        return []
    return [
        Problem(
            check.name,
            "*",
            "digest",
            f"its chunks no longer give the digest its group records of them "
            f"({check.recorded.digest!r}): changed since its manifest was written; which "
            "chunk cannot be told without it",
        )
    ]


def _compare(check: _Array, key: str, digest: str) -> list[Problem]:
    assert check.manifest is not None
    expected = check.manifest.chunks.get(key)
    if expected is None or expected == digest:
        return []  # a chunk not in the manifest: told from the listing
    others = [k for k, d in check.manifest.chunks.items() if d == digest and k != key]
    if others:
        return [
            Problem(
                check.name,
                key,
                "swapped",
                f"holds the data of chunk {others[0]} (swapped or moved)",
            )
        ]
    return [Problem(check.name, key, "digest", "its data no longer match the digest written")]


def _not_verified(check: _Array, recorded: bool) -> list[str]:
    """What could not be checked of *check*'s array; *recorded*: other arrays of the
    store have manifests."""
    notes = []
    if check.array.metadata.zarr_format == 3 and check.array.shards is not None:
        notes.append(
            f"{check.name}: sharded: no digests are recorded; checksums and decoding checked"
        )
    elif not keeps_manifests(check.array.store_path.store):
        notes.append(
            f"{check.name}: an icechunk repository holds zarr's keys only, so no manifest: "
            "checksums and decoding checked"
        )
    elif check.manifest is None:
        if check.distrusted is not None:
            why = "its manifest is gone or does not read (see its problem)"
        elif recorded:
            why = "written by another tool since, or its manifest was removed"
        else:
            why = "written before xzarrio recorded digests, or by another tool"
        notes.append(
            f"{check.name}: no manifest ({why}): its data cannot be compared with what was written"
            + (", chunk by chunk" if check.rebuilt else "")
        )
    elif not check.manifest.complete:
        notes.append(
            f"{check.name}: its manifest holds only the chunks written since xzarrio recorded "
            "digests: an extra chunk among the others cannot be told"
        )
    if not check.checksummed and not (check.array.metadata.zarr_format == 3 and check.array.shards):
        notes.append(f"{check.name}: its chunks carry no checksum")
    return notes
