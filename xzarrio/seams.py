"""Seams: every use of another package's private or internal API, in one place.

A seam is one named function, alias or small base class that stands between
xzarrio and a name another package does not promise to keep: a name with a
leading underscore, a module the package calls internal (``zarr.core``), an
attribute it does not document, or a behaviour it does not promise (the names
of its threads, of its temporary files). The rest of xzarrio imports such
things from here and nowhere else, one name per use, so that an upgrade which
removes or changes one breaks here, and in its test in ``tests/test_seams.py``,
which names the use and the package.

Each entry says the package version it was written against and what breaks in
xzarrio if it changes. Where a package has a public name for the same thing,
xzarrio uses that instead and it is not here: ``zarr.buffer.default_buffer_prototype``,
``zarr.buffer.cpu.Buffer``, ``zarr.abc.buffer.Buffer``, ``zarr.Array.async_array``,
``zarr.storage.*``, ``zarr.api.asynchronous.open_array``.

Hooks a package documents for its subclasses are overridden in place, not
wrapped: zarr's codec methods ``_encode_single``/``_decode_single`` and the
``_encode_sync``/``_decode_sync`` of its ``SupportsSyncCodec`` protocol
(``xzarrio.integrity.checksums``), and ``WrapperStore._store`` in a subclass
(``xzarrio.writing.guard``). Their tests are in ``tests/test_seams.py`` too.
"""

from __future__ import annotations

import argparse
import dataclasses
from abc import ABCMeta, abstractmethod
from collections.abc import Coroutine, Mapping, MutableMapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, TypeVar

import zarr
from dask.diagnostics.profile import ResourceProfiler
from zarr import AsyncGroup
from zarr.abc.buffer import Buffer
from zarr.abc.store import Store
from zarr.buffer import cpu
from zarr.core.array_spec import ArraySpec as _ArraySpec
from zarr.core.chunk_grids import _guess_chunks
from zarr.core.chunk_key_encodings import ChunkKeyEncoding as _ChunkKeyEncoding
from zarr.core.codec_pipeline import BatchedCodecPipeline as _BatchedCodecPipeline
from zarr.core.group import ConsolidatedMetadata as _ConsolidatedMetadata
from zarr.core.metadata import ArrayV2Metadata as _ArrayV2Metadata
from zarr.core.metadata import ArrayV3Metadata as _ArrayV3Metadata
from zarr.core.sync import sync as _zarr_sync
from zarr.storage import LocalStore, MemoryStore, WrapperStore
from zarr.storage._local import _atomic_write

if TYPE_CHECKING:
    from fsspec.asyn import AsyncFileSystem

__all__ = [
    "INLINE_BYTES", "PARTIAL_SUFFIX", "ZARR_THREAD_PREFIXES", "ArraySpec", "ArrayV2Metadata",
    "ArrayV3Metadata", "BatchedCodecPipeline", "ChunkKeyEncoding", "CpuBufferJoinedWhenRead",
    "CpuNDBufferFirstValueFirst", "InlineLocalStore", "ResourceProfilerBase",
    "SubParsersAction", "atomic_write", "cluster_performance_report", "ensure_open",
    "fs_cp_file", "fs_du", "fs_has_cp_file", "fs_has_du", "guess_chunks",
    "is_zarrs_own_local_set", "memory_store_dict", "rewrapped", "scheduler_monitor_count",
    "sync", "with_consolidated_copy", "worker_task_cpu_seconds", "wrapped_store",
    "zarr_arrays_read"
]  # fmt: skip

T = TypeVar("T")


# --- zarr (written against zarr 3.1.6) -------------------------------------------------


def sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run *coroutine* on zarr's own event-loop thread and return its result.

    zarr 3.1.6: ``zarr.core.sync.sync(coro, loop=None, timeout=None)``. Every
    synchronous call xzarrio makes into a store goes through it, on the loop
    zarr's stores and fsspec file systems are bound to. If it goes, no read,
    write, journal or report that touches a store works.
    """
    return _zarr_sync(coroutine)


def guess_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """The chunks zarr gives an array of *shape* and item size *itemsize* when given none.

    zarr 3.1.6: ``zarr.core.chunk_grids._guess_chunks(shape, typesize)``. Used by
    ``xzarrio.chunks`` to store an unchunked variable as zarr itself would. If it
    changes, those default chunks differ from zarr's.
    """
    return tuple(int(n) for n in _guess_chunks(shape, itemsize))


def with_consolidated_copy(group: AsyncGroup, arrays: Mapping[str, Any]) -> AsyncGroup:
    """*group* whose metadata holds the consolidated copy of *arrays* (by name in it, the
    metadata of each), to be saved with its next write of its metadata.

    zarr 3.1.6: what ``zarr.api.asynchronous.consolidate_metadata`` builds of the
    members it reads, ``zarr.core.group.ConsolidatedMetadata(metadata=...)`` put in
    the group's ``GroupMetadata.consolidated_metadata`` (frozen dataclasses, replaced).
    Used by the stamp of ``xzarrio.writing.transactions``, which makes the copy of
    the arrays the write holds rather than read them again. If it changes, the copy
    written differs from zarr's own.
    """
    copy = _ConsolidatedMetadata(metadata={name: a.metadata for name, a in arrays.items()})
    metadata = dataclasses.replace(group.metadata, consolidated_metadata=copy)
    return dataclasses.replace(group, metadata=metadata)


def atomic_write(path: Path, mode: Literal["wb", "r+b"] = "wb") -> AbstractContextManager[BinaryIO]:
    """A file open for writing that replaces *path* only once whole, as zarr writes a key.

    zarr 3.1.6: ``zarr.storage._local._atomic_write(path, mode, exclusive=False)``,
    the writer of ``LocalStore.set``: a ``PATH.<hex>.partial`` file beside *path*,
    renamed over it when the block ends, removed if it raises. Used by
    ``xzarrio.integrity.checksums.write_parts``, which writes a chunk in place of
    ``LocalStore.set``. If it changes, a chunk written in parts may be seen half written.
    """
    return _atomic_write(path, mode)


#: zarr 3.1.6: how the temporary file ``LocalStore`` writes a key to ends
#: (``KEY.<hex>.partial``, renamed to ``KEY`` when whole; see :func:`atomic_write`).
#: ``xzarrio.journal.local`` sweeps such files a killed writer left, and
#: ``xzarrio.storeinfo`` leaves them out of a store's size. If zarr names them
#: otherwise, a killed write leaves files behind and a size counts them.
PARTIAL_SUFFIX = ".partial"

#: zarr 3.1.6: the name prefixes of the threads zarr works in: its event loop
#: (``zarr_io``), its pool when ``threading.max_workers`` is set (``zarr_pool``),
#: and otherwise Python's default executor of that loop (``asyncio_0``...), where
#: codecs run (``asyncio.to_thread``). ``xzarrio.profiling.report.zarr_cpu_seconds``
#: counts their CPU time as decoding. If they are named otherwise, a profile's
#: decode time reads as zero.
ZARR_THREAD_PREFIXES = ("zarr_", "asyncio_")

#: zarr 3.1.6: ``zarr.core.array_spec.ArraySpec``, what a codec is told of a chunk;
#: only named in the types of ``xzarrio.integrity.checksums.Crc32cCodec``.
ArraySpec = _ArraySpec

#: zarr 3.1.6: ``zarr.core.metadata.ArrayV2Metadata`` and ``ArrayV3Metadata``, what
#: ``zarr.Array.metadata`` is; ``xzarrio.writing.report`` tells array metadata from
#: group metadata by them. If they move, that import fails.
ArrayV2Metadata = _ArrayV2Metadata
ArrayV3Metadata = _ArrayV3Metadata

#: zarr 3.1.6: ``zarr.core.chunk_key_encodings.ChunkKeyEncoding``, the base of a
#: chunk key encoding object; ``xzarrio.writing.checks.encoding`` accepts one in
#: ``encoding["chunk_key_encoding"]``. If it moves, that import fails.
ChunkKeyEncoding = _ChunkKeyEncoding

#: zarr 3.1.6: ``zarr.core.codec_pipeline.BatchedCodecPipeline``, zarr's default
#: codec pipeline (``codec_pipeline.path``). ``xzarrio.integrity.digests.DigestingPipeline``
#: subclasses it and overrides ``write_batch(batch_info, value, drop_axes)``, whose
#: ``batch_info`` items begin with the chunk's byte setter (``.store``, ``.path``),
#: and ``encode_batch(chunk_arrays_and_specs)``, which ``write_batch`` calls for the
#: batch's chunks; it reads ``supports_partial_encode``, ``array_array_codecs`` and
#: ``array_bytes_codec``. If those change, writes record no chunk digests, or fail.
BatchedCodecPipeline = _BatchedCodecPipeline


class CpuNDBufferFirstValueFirst(cpu.NDBuffer):
    """zarr's CPU array buffer whose "is every value the fill value?" looks at the
    first value before the others.

    zarr 3.1.6: ``BatchedCodecPipeline.write_batch`` leaves out a chunk whose
    values all equal the fill value (``write_empty_chunks=False``) by asking
    ``all_equal`` of the chunk's buffer, and a chunk the write covers whole is
    the buffer handed to ``write_batch`` itself (a slice of it, where it covers
    several), so of this class where
    ``xzarrio.integrity.digests.DigestingPipeline`` hands one. zarr's check
    runs on its one event-loop thread over the whole chunk, several times
    (for a fill value of 0.0, each value's bytes compared as a string): 0.17 s
    of a 240 MB write, one chunk after another. A chunk whose first value
    differs is not all fill value, and zarr's own comparison of that one value
    says so at once; zarr's check of the whole is asked only otherwise, so the
    answer is zarr's. If zarr checks another buffer, writes are as fast as
    zarr's own, no slower.
    """

    def all_equal(self, other: Any, equal_nan: bool = True) -> bool:
        data = self.as_numpy_array()  # on the CPU: the array itself, no copy
        first = cpu.NDBuffer.from_numpy_array(data[(slice(0, 1),) * data.ndim])
        if data.size and not first.all_equal(other, equal_nan):
            return False
        return super().all_equal(other, equal_nan)


class CpuBufferJoinedWhenRead(cpu.Buffer):
    """zarr's CPU buffer whose bytes a subclass makes only when they are first read.

    zarr 3.1.6: ``zarr.buffer.cpu.Buffer`` keeps its bytes in the attribute
    ``_data``, which its ``__init__`` sets and its methods (``as_numpy_array``,
    ``__getitem__``, ``__len__``, ``to_bytes``...) read. Here ``_data`` is the
    subclass's :attr:`joined`. ``xzarrio.integrity.checksums.ChecksummedBuffer``
    uses it to join a chunk and its checksum only when a reader asks. If zarr
    keeps the bytes elsewhere, such a buffer reads as empty or fails.
    """

    @property
    @abstractmethod
    def joined(self) -> Any:
        """The buffer's bytes whole (a 1-D uint8 array); a subclass makes them."""

    @joined.setter
    @abstractmethod
    def joined(self, value: Any) -> None:
        """Keep *value* as the buffer's bytes (zarr's ``__init__`` sets ``_data``)."""

    @property
    def _data(self) -> Any:
        return self.joined

    @_data.setter
    def _data(self, value: Any) -> None:
        self.joined = value


def wrapped_store(store: WrapperStore[Any]) -> Store:
    """The store *store* wraps.

    zarr 3.1.6: ``WrapperStore._store``, documented there as the way to reach it.
    ``xzarrio.integrity.manifest`` looks through a write's wrapper at the store
    beneath. If it goes, an icechunk store written through a wrapper is taken for
    one that keeps manifests.
    """
    inner: Store = store._store
    return inner


async def ensure_open(store: Store) -> None:
    """Open *store* unless it is open, as zarr does before it first uses a store.

    zarr 3.1.6: ``Store._ensure_open()``, which ``zarr.storage.StorePath.open`` awaits
    on every store it is given (it calls ``_open`` where ``_is_open`` is false). A
    ``ZipStore`` made but not opened has no zip file and no lock until then.
    ``xzarrio.stores.locate`` opens the store objects it does not know with it. If it
    goes, such a store fails on its first use (``AttributeError: _lock``).
    """
    await store._ensure_open()


def rewrapped(wrapper: WrapperStore[Any], store: Store) -> Store:
    """*store* inside wrappers made as *wrapper* and those it wraps were, in the same order.

    zarr 3.1.6: ``WrapperStore._with_store(store)``, "a new instance of the wrapper
    store with the same details but a new store" (zarr's ``LoggingStore`` keeps its
    log level and handler; the default makes ``type(self)(store=store)``). It
    raises ``TypeError`` for a wrapper whose constructor needs more.
    ``xzarrio.stores.LocalFolder.store_at`` writes a wrapped local store's staging
    folder through it. If it goes, that staging is written around the wrapper.
    """
    inner = wrapper._store
    if isinstance(inner, WrapperStore):
        store = rewrapped(inner, store)
    made: Store = wrapper._with_store(store)
    return made


def memory_store_dict(store: MemoryStore) -> MutableMapping[str, Buffer]:
    """The dict *store* keeps its keys in (shared by the stores made from it).

    zarr 3.1.6: ``MemoryStore._store_dict``, the mapping given as ``store_dict``
    or made by ``MemoryStore()``. ``xzarrio.chunklocks`` locks a store in memory by
    it and ``xzarrio.journal.objectstore`` drops a journal whose dict is empty. If
    it goes, writes to a store in memory fail; if it is no longer shared, two
    store objects of one dict lock apart.
    """
    keys: MutableMapping[str, Buffer] = store._store_dict
    return keys


#: the most bytes an :class:`InlineLocalStore` reads or writes a key with in zarr's
#: event-loop thread (metadata, xzarrio's records and journal); larger keys (chunks)
#: go to worker threads, as in zarr, so that many run at once
INLINE_BYTES = 64 * 1024


class InlineLocalStore(LocalStore):
    """zarr's ``LocalStore``, whose small keys are read, written and deleted in the
    event-loop thread, not each in a worker thread.

    A small file is read in about 13 µs; handing its read to a worker thread and
    back costs about 0.3 ms, which a small write pays some forty times (its
    metadata read and written, the generations, the manifests, the journal). zarr
    lists and deletes folders in the loop's thread already.

    zarr 3.1.6: ``LocalStore.get_sync(key, prototype=, byte_range=)``,
    ``set_sync(key, value)`` and ``delete_sync(key)``, the synchronous versions of
    ``get``, ``set`` and ``delete`` (the same files, the same atomic write).
    ``xzarrio.stores`` writes local stores through it. If they go, local writes
    fail at once (``AttributeError``); if they change, this store reads and writes
    what zarr's own does not.
    """

    async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Buffer | None:
        try:
            small = (self.root / key).stat().st_size <= INLINE_BYTES
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not small:
            return await super().get(key, prototype, byte_range)
        found: Buffer | None = self.get_sync(key, prototype=prototype, byte_range=byte_range)
        return found

    async def set(self, key: str, value: Buffer) -> None:
        if not (isinstance(value, Buffer) and len(value) <= INLINE_BYTES):
            await super().set(key, value)
            return
        self.set_sync(key, value)

    async def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    async def delete(self, key: str) -> None:
        self.delete_sync(key)


#: the ``set`` of zarr's ``LocalStore`` and of :class:`InlineLocalStore`, as they were
#: when xzarrio was imported
_OWN_SETS = {LocalStore: LocalStore.set, InlineLocalStore: InlineLocalStore.set}


def is_zarrs_own_local_set(store: object) -> bool:
    """Whether *store* is zarr's ``LocalStore`` itself (no subclass but
    :class:`InlineLocalStore`, which leaves large keys to it) whose ``set`` is its
    own, not replaced since xzarrio was imported.

    zarr 3.1.6: ``LocalStore.set`` writes a key to the file ``root/KEY`` through
    :func:`atomic_write`. ``xzarrio.writing.guard.GuardedStore`` writes a chunk and
    its checksum in parts in its place (``xzarrio.integrity.checksums.write_parts``),
    only where this holds. If zarr's ``set`` writes otherwise, those files differ
    from what zarr writes and reads.
    """
    kind = type(store)
    own = kind in _OWN_SETS and kind.set is _OWN_SETS[kind]
    return own and LocalStore.set is _OWN_SETS[LocalStore]


# --- fsspec (written against fsspec 2026.9.0) ------------------------------------------
# An async file system's coroutine methods are its ``_``-prefixed ones; fsspec's own
# synchronous methods wrap them, on fsspec's loop, not zarr's, so xzarrio awaits them
# on zarr's loop (``sync`` above), where a ``FsspecStore``'s file system is bound.


def fs_has_du(fs: AsyncFileSystem) -> bool:
    """Whether *fs* has :func:`fs_du`."""
    return hasattr(fs, "_du")


async def fs_du(fs: AsyncFileSystem, path: str) -> int:
    """The bytes of every file under *path* of *fs*, from one listing.

    fsspec 2026.9.0: ``AsyncFileSystem._du(path, total=True)``. ``xzarrio.storeinfo``
    sizes a store on an object store with it, rather than one request per key. If
    it changes, sizes are wrong or fail (where :func:`fs_has_du` still says yes).
    """
    return int(await fs._du(path, total=True))


def fs_has_cp_file(fs: AsyncFileSystem) -> bool:
    """Whether *fs* has :func:`fs_cp_file`."""
    return hasattr(fs, "_cp_file")


async def fs_cp_file(fs: AsyncFileSystem, source: str, target: str) -> None:
    """Copy the file *source* of *fs* to *target*, on the server where *fs* can
    (S3's CopyObject); ``FileNotFoundError`` if *source* is absent.

    fsspec 2026.9.0: ``AsyncFileSystem._cp_file(path1, path2)``. ``xzarrio.stores.copy_key``
    copies keys between two stores of one file system with it. If it changes,
    such copies fail.
    """
    await fs._cp_file(source, target)


# --- dask (written against dask 2026.8.0) ----------------------------------------------


class ResourceProfilerBase(ResourceProfiler, metaclass=ABCMeta):
    """dask's ``ResourceProfiler``, its sampling left to a subclass.

    dask 2026.8.0: ``ResourceProfiler`` samples in a tracker process that its
    private ``_start_collect``, ``_stop_collect`` and ``_is_running`` start, stop
    and ask after (called from ``__enter__``/``__exit__`` and the scheduler
    callbacks ``_start``/``_finish``), every ``_dt`` seconds. Here those call
    :meth:`start_sampling`, :meth:`stop_sampling` and :meth:`is_sampling`, and
    ``_dt`` reads as :attr:`interval`; ``results``, ``close`` and ``visualize`` stay
    dask's. ``xzarrio.profiling.local`` samples from a thread this way. If dask
    renames them, the subclass is not called: dask's tracker process samples again,
    and a profile's CPU figures read as zero.
    """

    @property
    def interval(self) -> float:
        """Seconds between two samples (the ``dt`` given)."""
        return float(self._dt)

    @abstractmethod
    def is_sampling(self) -> bool:
        """Whether samples are being taken now."""

    @abstractmethod
    def start_sampling(self) -> None:
        """Begin taking samples into ``results``, unless begun."""

    @abstractmethod
    def stop_sampling(self) -> None:
        """Stop taking samples; ``results`` then holds ``ResourceData`` records."""

    def _is_running(self) -> bool:
        return self.is_sampling()

    def _start_collect(self) -> None:
        self.start_sampling()

    def _stop_collect(self) -> None:
        self.stop_sampling()


# --- distributed (written against distributed 2026.8.0) --------------------------------
# Each takes the worker or the scheduler by the name ``Client.run`` and
# ``Client.run_on_scheduler`` hand it over by, so it can be given to them as it is.


def worker_task_cpu_seconds(dask_worker: Any) -> float:
    """The thread CPU seconds the tasks of *dask_worker* have used so far.

    distributed 2026.8.0: ``Worker.digests_total``, its fine performance metrics,
    keyed ``("execute", <task prefix>, "thread-cpu", "seconds")`` for a task's CPU.
    ``xzarrio.profiling.cluster`` counts a cluster profile's CPU with it. If it
    changes, that CPU reads as zero.
    """
    return float(
        sum(
            value
            for key, value in dask_worker.digests_total.items()
            if isinstance(key, tuple)
            and key[0] == "execute"
            and key[-2:] == ("thread-cpu", "seconds")
        )
    )


def scheduler_monitor_count(dask_scheduler: Any) -> int:
    """How many samples the scheduler's system monitor has taken so far.

    distributed 2026.8.0: ``Scheduler.monitor.count``, which ``distributed.performance_report``
    reads on entry as well. ``xzarrio.profiling.cluster`` marks where a profile began
    with it, for :func:`cluster_performance_report`. If it goes, a cluster profile fails.
    """
    return int(dask_scheduler.monitor.count)


def cluster_performance_report(client: Any, *, start: float, last_count: int, code: str) -> str:
    """distributed's performance report (an HTML page) of *client*'s cluster since
    *start* (a ``time.time()``), when its monitor had taken *last_count* samples.

    distributed 2026.8.0: the scheduler's ``performance_report(start, last_count,
    code="", mode=None)`` handler, which ``distributed.performance_report`` calls on
    exit. ``xzarrio.profiling.cluster`` saves a page for a profile already run with it,
    which the public context manager cannot. If it changes, ``save_html`` fails.
    """
    page = client.sync(
        client.scheduler.performance_report,
        start=start, last_count=last_count, code=code, mode=None,
    )  # fmt: skip
    return str(page)


# --- xarray (written against xarray 2026.9.0, dask 2026.8.0) ----------------------------


def zarr_arrays_read(data: Any) -> list[zarr.Array[Any]]:
    """The zarr arrays that computing the dask array *data* reads (none for others).

    dask 2026.8.0: ``dask.array.from_array(..., inline_array=False)``, as xarray
    chunks a variable it opened, keeps the array in a layer of one key named
    ``original-<name>``. xarray 2026.9.0: that array is the backend's array wrapped
    in indexing adapters, each holding the next as ``.array``, down to the zarr
    backend's ``ZarrArrayWrapper``, whose ``get_array()`` is the zarr array.
    ``xzarrio.writing.plan`` finds with it a write whose data are read from the
    store it writes. If either changes, none is found: such a write then fails
    with ``StoreChangedError`` while it runs, and is rolled back.
    """
    found: list[zarr.Array[Any]] = []
    layers = getattr(getattr(data, "dask", None), "layers", {})
    for name, layer in layers.items():
        if not str(name).startswith("original-"):
            continue
        for held in layer.values():
            for _ in range(16):  # the adapters, one inside the other
                if callable(getattr(held, "get_array", None)):
                    array = held.get_array()
                    if isinstance(array, zarr.Array):
                        found.append(array)
                    break
                held = getattr(held, "array", None)
    return found


# --- Python's standard library (written against Python 3.11) ---------------------------

#: ``argparse._SubParsersAction``, what ``ArgumentParser.add_subparsers`` returns;
#: only named in the types of ``xzarrio.cli``. If it moves, that import fails.
SubParsersAction = argparse._SubParsersAction
