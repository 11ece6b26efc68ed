"""The seams: each use of another package's private API still works as xzarrio relies on.

One test per entry of ``xzarrio/seams.py``: the name is still there, takes the
parameters xzarrio calls it with, and behaves as relied on, on a tiny real
input. A failure names the use and the package version that changed it. Each
test looks the private name up itself before it goes through the seam, so that
the message names the use even where ``xzarrio.seams`` no longer imports.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.metadata
import inspect
import logging
import platform
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, NoReturn, cast

import dask
import dask.array
import numpy as np
import pytest
import zarr
from zarr.abc.store import RangeByteRequest
from zarr.buffer import default_buffer_prototype
from zarr.storage import FsspecStore, LocalStore, MemoryStore, WrapperStore


def version(package: str) -> str:
    if package == "python":
        return platform.python_version()
    return importlib.metadata.version(package)


def broken(use: str, package: str, why: str) -> NoReturn:
    pytest.fail(
        f"{use} changed in {package} {version(package)}: {why}; see its entry in xzarrio/seams.py",
        pytrace=False,
    )


def check(holds: bool, use: str, package: str, why: str) -> None:
    if not holds:
        broken(use, package, why)


def private(module: str, name: str, use: str, package: str, *, takes: Sequence[str] = ()) -> Any:
    """*name* of *module* (a dotted attribute path), still taking the parameters *takes*
    that xzarrio passes it; or a failure naming *use*."""
    try:
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        broken(use, package, f"{module}.{name} is gone ({error})")
    if takes:
        known = inspect.signature(found).parameters
        missing = [p for p in takes if p not in known]
        check(not missing, use, package, f"it no longer takes {missing}; it takes {list(known)}")
    return found


def seams() -> ModuleType:
    """``xzarrio.seams``, imported only once the use under test was found."""
    return importlib.import_module("xzarrio.seams")


# --- zarr ------------------------------------------------------------------------------


def test_sync_runs_a_coroutine_on_zarrs_loop() -> None:
    use = "zarr.core.sync.sync"
    private("zarr.core.sync", "sync", use, "zarr", takes=["coro"])

    async def where() -> str:
        return threading.current_thread().name

    name = seams().sync(where())
    check(name.startswith("zarr_"), use, "zarr", f"it ran the coroutine on thread {name!r}")


def test_guess_chunks_is_the_chunks_zarr_picks() -> None:
    use = "zarr.core.chunk_grids._guess_chunks"
    private("zarr.core.chunk_grids", "_guess_chunks", use, "zarr", takes=["shape", "typesize"])
    chunks = seams().guess_chunks((3000, 2000), 4)
    check(
        isinstance(chunks, tuple) and len(chunks) == 2 and all(type(n) is int for n in chunks),
        use, "zarr", f"it gave {chunks!r}, not a tuple of 2 ints",
    )  # fmt: skip
    picked = zarr.create_array(MemoryStore(), shape=(3000, 2000), dtype="f4").chunks
    check(picked == chunks, use, "zarr", f"zarr picks {picked}, it guesses {chunks}")


def test_atomic_write_replaces_the_file_only_once_whole(tmp_path: Path) -> None:
    use = "zarr.storage._local._atomic_write"
    private("zarr.storage._local", "_atomic_write", use, "zarr", takes=["path", "mode"])
    s = seams()
    target = tmp_path / "key"
    target.write_bytes(b"old")
    with s.atomic_write(target, "wb") as file:
        file.write(b"new")
        beside = [p.name for p in tmp_path.iterdir() if p != target]
        check(target.read_bytes() == b"old", use, "zarr", "the file changed before the block ended")
        check(
            len(beside) == 1 and beside[0].endswith(s.PARTIAL_SUFFIX), use, "zarr",
            f"it writes to {beside}, not one file ending {s.PARTIAL_SUFFIX!r}",
        )  # fmt: skip
    check(target.read_bytes() == b"new", use, "zarr", "the file was not replaced")
    with pytest.raises(RuntimeError), s.atomic_write(target, "wb") as file:
        file.write(b"half")
        raise RuntimeError
    left = sorted(p.name for p in tmp_path.iterdir())
    check(left == ["key"], use, "zarr", f"a failed write left {left}")
    check(target.read_bytes() == b"new", use, "zarr", "a failed write changed the file")


def test_local_store_set_writes_through_a_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use = "LocalStore.set writing KEY.<hex>.partial (PARTIAL_SUFFIX, is_zarrs_own_local_set)"
    s = seams()
    renamed: list[tuple[str, str]] = []
    replace = Path.replace

    def recording(self: Path, target: Any) -> Any:
        renamed.append((self.name, Path(target).name))
        return replace(self, target)

    monkeypatch.setattr(Path, "replace", recording)
    store = LocalStore(tmp_path)
    s.sync(store.set("a/0", default_buffer_prototype().buffer.from_bytes(b"abc")))
    check((tmp_path / "a" / "0").read_bytes() == b"abc", use, "zarr", "the key is not root/KEY")
    check(
        len(renamed) == 1 and renamed[0][1] == "0" and renamed[0][0].startswith("0.")
        and renamed[0][0].endswith(s.PARTIAL_SUFFIX),
        use, "zarr", f"it renamed {renamed}, not one KEY.<hex>{s.PARTIAL_SUFFIX} over KEY",
    )  # fmt: skip


def test_is_zarrs_own_local_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use = "the identity of zarr.storage.LocalStore.set"
    s = seams()
    check(s.is_zarrs_own_local_set(LocalStore(tmp_path)), use, "zarr", "zarr's own is not told")

    class Mine(LocalStore):
        pass

    check(not s.is_zarrs_own_local_set(Mine(tmp_path)), use, "zarr", "a subclass passes")
    check(s.is_zarrs_own_local_set(s.InlineLocalStore(tmp_path)), use, "zarr", "ours is not told")
    with monkeypatch.context() as patch:
        patch.setattr(s.InlineLocalStore, "set", LocalStore.set)
        check(not s.is_zarrs_own_local_set(s.InlineLocalStore(tmp_path)), use, "zarr",
              "ours with a replaced set passes")  # fmt: skip
    check(not s.is_zarrs_own_local_set(MemoryStore()), use, "zarr", "another store passes")
    monkeypatch.setattr(LocalStore, "set", LocalStore.set_if_not_exists)
    check(not s.is_zarrs_own_local_set(LocalStore(tmp_path)), use, "zarr", "a replaced set passes")


def test_inline_local_store_reads_and_writes_as_zarrs_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small keys in the event loop's own thread, large ones in worker threads; the
    files are zarr's, byte for byte, whichever store wrote them."""
    use = "LocalStore.get_sync, set_sync and delete_sync (InlineLocalStore)"
    for name, takes in [("get_sync", ["key", "prototype", "byte_range"]),
                        ("set_sync", ["key", "value"]), ("delete_sync", ["key"])]:  # fmt: skip
        private("zarr.storage", f"LocalStore.{name}", use, "zarr", takes=takes)
    s = seams()
    ours, zarrs = s.InlineLocalStore(tmp_path), LocalStore(tmp_path)
    buffer = default_buffer_prototype().buffer.from_bytes
    threads: list[str] = []
    to_thread = asyncio.to_thread

    async def counted(*args: Any, **kwargs: Any) -> Any:
        threads.append("worker")
        return await to_thread(*args, **kwargs)

    async def both(key: str, value: bytes) -> tuple[Any, Any]:
        await ours.set(key, buffer(value))
        return await ours.get(key), await ours.exists(key)

    with monkeypatch.context() as patch:
        patch.setattr(asyncio, "to_thread", counted)
        small, large = b"s" * 100, b"L" * (s.INLINE_BYTES + 1)
        got = s.sync(both("a/zarr.json", small))
        check(not threads, use, "zarr", f"a small key went to {len(threads)} worker threads")
        got_large = s.sync(both("a/c/0", large))
        check(len(threads) >= 2, use, "zarr", "a large key was not left to worker threads")
    for (mine, there), key, want in [(got, "a/zarr.json", small), (got_large, "a/c/0", large)]:
        theirs = s.sync(zarrs.get(key))
        check(theirs.to_bytes() == mine.to_bytes() == want and there, use, "zarr", "bytes differ")
    check(s.sync(ours.get("a/c/0", byte_range=RangeByteRequest(1, 3))).to_bytes()
          == b"LL", use, "zarr", "a range of a large key differs")  # fmt: skip
    check(s.sync(ours.get("nothing")) is None and s.sync(ours.get("a")) is None, use, "zarr",
          "a missing key or a folder is not None")  # fmt: skip
    s.sync(ours.delete("a/zarr.json"))
    check(not (tmp_path / "a" / "zarr.json").exists(), use, "zarr", "the key was not deleted")


def test_zarr_thread_prefixes_name_the_threads_codecs_run_in() -> None:
    use = "the names of zarr's threads (ZARR_THREAD_PREFIXES)"
    s = seams()

    async def names() -> tuple[str, str]:
        name = threading.current_thread().name
        return name, await asyncio.to_thread(lambda: threading.current_thread().name)

    for name in s.sync(names()):
        check(
            name.startswith(s.ZARR_THREAD_PREFIXES), use, "zarr",
            f"zarr runs on thread {name!r}, not one beginning {s.ZARR_THREAD_PREFIXES}",
        )  # fmt: skip


def test_array_spec_is_what_a_codec_is_told() -> None:
    use = "zarr.core.array_spec.ArraySpec"
    spec_type = private("zarr.core.array_spec", "ArraySpec", use, "zarr")
    inner = zarr.create_array(MemoryStore(), shape=(4,), dtype="i4").async_array
    spec = inner.metadata.get_chunk_spec((0,), inner.config, prototype=default_buffer_prototype())
    check(isinstance(spec, spec_type), use, "zarr", f"a chunk's spec is a {type(spec)}")
    check(spec_type is seams().ArraySpec, use, "zarr", "the seam names another class")
    check(
        spec.prototype.buffer is zarr.buffer.cpu.Buffer, use, "zarr",
        f"its prototype's buffer is {spec.prototype.buffer}, not zarr.buffer.cpu.Buffer",
    )  # fmt: skip


@pytest.mark.parametrize("zarr_format", [2, 3], ids=["v2", "v3"])
def test_array_metadata_classes(zarr_format: Literal[2, 3]) -> None:
    name = f"ArrayV{zarr_format}Metadata"
    use = f"zarr.core.metadata.{name}"
    metadata_type = private("zarr.core.metadata", name, use, "zarr")
    check(metadata_type is getattr(seams(), name), use, "zarr", "the seam names another class")
    array = zarr.create_array(MemoryStore(), shape=(4,), dtype="i4", zarr_format=zarr_format)
    meta = array.metadata
    check(isinstance(meta, metadata_type), use, "zarr", f"an array's metadata is a {type(meta)}")
    check(
        tuple(meta.shape) == (4,) and meta.dtype.to_native_dtype().itemsize == 4, use, "zarr",
        "its shape or dtype.to_native_dtype() changed",
    )  # fmt: skip


def test_chunk_key_encoding_class() -> None:
    use = "zarr.core.chunk_key_encodings.ChunkKeyEncoding"
    base = private("zarr.core.chunk_key_encodings", "ChunkKeyEncoding", use, "zarr")
    check(base is seams().ChunkKeyEncoding, use, "zarr", "the seam names another class")
    keys: dict[str, Any] = {"name": "v2", "separator": "."}
    made = zarr.create_array(MemoryStore(), shape=(4,), dtype="i4", chunk_key_encoding=keys)
    encoding = cast(Any, made.metadata).chunk_key_encoding
    check(isinstance(encoding, base), use, "zarr", f"an array's encoding is a {type(encoding)}")
    again = zarr.create_array(MemoryStore(), shape=(4,), dtype="i4", chunk_key_encoding=encoding)
    check(
        again.metadata.encode_chunk_key((1,)) == "1", use, "zarr",
        "an encoding object given to create_array is not used",
    )  # fmt: skip


def test_batched_codec_pipeline_calls_what_digests_override() -> None:
    use = "zarr.core.codec_pipeline.BatchedCodecPipeline"
    base = private("zarr.core.codec_pipeline", "BatchedCodecPipeline", use, "zarr")
    check(base is seams().BatchedCodecPipeline, use, "zarr", "the seam names another class")
    from zarr.registry import fully_qualified_name, register_pipeline

    defaults = [d["codec_pipeline"]["path"] for d in zarr.config.defaults if "codec_pipeline" in d]
    check(
        defaults == [fully_qualified_name(base)], use, "zarr",
        f"zarr's default pipeline is {defaults}",
    )  # fmt: skip
    for method, parameters in [
        ("write_batch", ["batch_info", "value", "drop_axes"]),
        ("encode_batch", ["chunk_arrays_and_specs"]),
        ("decode_batch", ["chunk_bytes_and_specs"]),
    ]:
        name = f"BatchedCodecPipeline.{method}"
        private("zarr.core.codec_pipeline", name, use, "zarr", takes=parameters)
    pipeline = base.from_codecs([zarr.codecs.BytesCodec()])
    for attribute in ("supports_partial_encode", "array_array_codecs", "array_bytes_codec"):
        check(hasattr(pipeline, attribute), use, "zarr", f"a pipeline has no {attribute}")

    seen: list[tuple[str, Any]] = []

    class Recording(base):  # type: ignore[misc,valid-type]
        async def write_batch(self, batch_info: Any, value: Any, drop_axes: Any = ()) -> None:
            batch = list(batch_info)
            seen.extend(("write", getattr(item[0], "path", None)) for item in batch)
            await super().write_batch(batch, value, drop_axes)
            seen.append(("written", None))

        async def encode_batch(self, chunk_arrays_and_specs: Any) -> Any:
            seen.append(("encode", None))
            return await super().encode_batch(chunk_arrays_and_specs)

    register_pipeline(Recording)
    with zarr.config.set({"codec_pipeline.path": fully_qualified_name(Recording)}):
        array = zarr.create_array(MemoryStore(), name="v", shape=(4,), chunks=(4,), dtype="i4")
        array[:] = np.arange(4)
    check(
        seen == [("write", "v/c/0"), ("encode", None), ("written", None)], use, "zarr",
        f"writing one chunk went {seen}: not write_batch with the chunk's byte setter "
        "(.path the key), encode_batch within it",
    )  # fmt: skip


@pytest.mark.parametrize(
    "values, fill",
    [
        (np.zeros((2, 3)), 0.0), (np.array([0.0, 1.0]), 0.0), (np.array([-0.0, 0.0]), 0.0),
        (np.array([0.0, -0.0]), 0.0), (np.full(3, np.nan), np.nan), (np.array([np.nan, 1.0]), np.nan),
        (np.array([1.0, np.nan]), np.nan), (np.array([5, 5], "i4"), 5), (np.array([6, 5], "i4"), 5),
        (np.array([0j, -0j]), 0j), (np.array(["a", "a"]), "a"), (np.array(["b", "a"]), "a"),
        (np.zeros(0), 0.0), (np.array(2.0), 2.0), (np.zeros((4, 4))[::2, 1:], 0.0), (np.ones(2), None),
    ],
)  # fmt: skip
def test_the_first_value_first_fill_check_answers_as_zarrs(values: Any, fill: Any) -> None:
    use = "zarr.buffer.cpu.NDBuffer.all_equal"
    ours = seams().CpuNDBufferFirstValueFirst.from_numpy_array(values)
    zarrs = zarr.buffer.cpu.NDBuffer.from_numpy_array(values)
    check(
        ours.all_equal(fill) == zarrs.all_equal(fill), use, "zarr",
        f"the check of {values!r} against {fill!r} differs from zarr's",
    )  # fmt: skip


def test_zarr_checks_a_whole_chunk_by_the_buffer_it_is_handed() -> None:
    use = "BatchedCodecPipeline.write_batch -> value.all_equal"
    base = private("zarr.core.codec_pipeline", "BatchedCodecPipeline", use, "zarr")
    from zarr.registry import fully_qualified_name, register_pipeline

    asked: list[str] = []

    class Counting(zarr.buffer.cpu.NDBuffer):
        def all_equal(self, other: Any, equal_nan: bool = True) -> bool:
            asked.append(type(self).__name__)
            return bool(super().all_equal(other, equal_nan))

    class Handing(base):  # type: ignore[misc,valid-type]
        async def write_batch(self, batch_info: Any, value: Any, drop_axes: Any = ()) -> None:
            await super().write_batch(batch_info, Counting(value.as_ndarray_like()), drop_axes)

    register_pipeline(Handing)
    with zarr.config.set({"codec_pipeline.path": fully_qualified_name(Handing)}):
        array = zarr.create_array(MemoryStore(), name="v", shape=(4,), chunks=(4,), dtype="i4")
        array[:] = np.arange(4)
    check(
        asked == ["Counting"], use, "zarr",
        f"writing one whole chunk asked {asked} for its fill check, not the buffer handed",
    )  # fmt: skip


def test_cpu_buffer_keeps_its_bytes_in_data() -> None:
    use = "zarr.buffer.cpu.Buffer._data"
    plain = zarr.buffer.cpu.Buffer.from_bytes(b"abc")
    check("_data" in vars(plain), use, "zarr", "a CPU buffer keeps no _data")

    class Parts(seams().CpuBufferJoinedWhenRead):  # type: ignore[misc]
        def __init__(self, *parts: Any) -> None:
            self.parts = parts  # no _data of its own: every read is through joined

        @property
        def joined(self) -> Any:
            return np.frombuffer(b"".join(bytes(p) for p in self.parts), dtype=np.uint8)

        @joined.setter
        def joined(self, value: Any) -> None:
            self.parts = (bytes(value),)

    buffer = Parts(b"ab", b"cd")
    check(buffer.to_bytes() == b"abcd", use, "zarr", "to_bytes does not read _data")
    check(len(buffer) == 4, use, "zarr", "len does not read _data")
    check(buffer[1:3].to_bytes() == b"bc", use, "zarr", "a slice does not read _data")
    check(
        bytes(buffer.as_numpy_array()) == b"abcd", use, "zarr", "as_numpy_array does not read _data"
    )


def test_wrapped_store_is_the_store_beneath() -> None:
    use = "zarr.storage.WrapperStore._store"
    inner = MemoryStore()
    wrapper = WrapperStore(inner)
    check(hasattr(wrapper, "_store"), use, "zarr", "a wrapper has no _store")
    check(seams().wrapped_store(wrapper) is inner, use, "zarr", "_store is not the wrapped store")


def test_zarr_arrays_read_finds_the_arrays_an_opened_variable_reads(tmp_path: Path) -> None:
    import xarray as xr

    use = "dask's original-<name> layer of from_array, xarray's .array adapters, get_array()"
    path = tmp_path / "s.zarr"
    xr.Dataset({"v": ("t", np.arange(6.0))}).to_zarr(path, encoding={"v": {"chunks": (2,)}})
    derived = (xr.open_zarr(path).v.isel(t=slice(1, 5)) * 2).chunk(3)
    found = seams().zarr_arrays_read(derived.data)
    check(len(found) == 1, use, "xarray", f"{len(found)} arrays found, not the one read")
    check(found[0].path == "v", use, "xarray", f"the array found is {found[0].path!r}")
    check(Path(cast(LocalStore, found[0].store).root) == path, use, "zarr", "another store")
    assert seams().zarr_arrays_read(dask.array.ones(4, chunks=2)) == []
    assert seams().zarr_arrays_read(np.ones(4)) == []


def test_memory_store_dict_is_where_its_keys_live() -> None:
    use = "zarr.storage.MemoryStore._store_dict"
    keys: dict[str, Any] = {}
    store = MemoryStore(store_dict=keys)
    check(hasattr(store, "_store_dict"), use, "zarr", "a MemoryStore has no _store_dict")
    s = seams()
    check(s.memory_store_dict(store) is keys, use, "zarr", "it is not the dict given")
    s.sync(store.set("k", default_buffer_prototype().buffer.from_bytes(b"v")))
    check(list(keys) == ["k"], use, "zarr", f"a key set lands as {list(keys)}")
    other = store.with_read_only(True)
    check(
        s.memory_store_dict(other) is keys, use, "zarr",
        "a store made from another does not share its dict",
    )  # fmt: skip
    check(s.memory_store_dict(MemoryStore()) == {}, use, "zarr", "a new store's dict is not empty")


# --- fsspec ----------------------------------------------------------------------------


@pytest.fixture
def memory_fs() -> Iterator[tuple[Any, str]]:
    """The async file system of a ``memory://`` FsspecStore, and a fresh folder of it."""
    folder = f"/xzarrio-seams-{uuid.uuid4().hex}"
    store = FsspecStore.from_url(f"memory://{folder}")
    yield store.fs, folder
    store.fs.sync_fs.rm(folder, recursive=True)


def fs_method(name: str, parameters: Sequence[str], use: str) -> None:
    """Every async file system, s3fs's included, still has *name* with *parameters*."""
    private("fsspec.asyn", f"AsyncFileSystem.{name}", use, "fsspec", takes=parameters)
    pytest.importorskip("s3fs")
    private("s3fs", f"S3FileSystem.{name}", use, "s3fs", takes=parameters)


def put(fs: Any, path: str, data: bytes) -> None:
    fs.sync_fs.pipe_file(path, data)


def test_fs_du_sums_sizes(memory_fs: tuple[Any, str]) -> None:
    use = "fsspec AsyncFileSystem._du"
    fs_method("_du", ["path", "total"], use)
    fs, folder = memory_fs
    put(fs, f"{folder}/a", b"123")
    put(fs, f"{folder}/b/c", b"45")
    s = seams()
    check(s.fs_has_du(fs), use, "fsspec", "a FsspecStore's file system has none")
    total = s.sync(s.fs_du(fs, folder))
    check(total == 5, use, "fsspec", f"it gave {total!r} for 5 bytes")


def test_fs_cp_file_copies(memory_fs: tuple[Any, str]) -> None:
    use = "fsspec AsyncFileSystem._cp_file"
    fs_method("_cp_file", ["path1", "path2"], use)
    fs, folder = memory_fs
    put(fs, f"{folder}/a", b"123")
    s = seams()
    check(s.fs_has_cp_file(fs), use, "fsspec", "a FsspecStore's file system has none")
    s.sync(s.fs_cp_file(fs, f"{folder}/a", f"{folder}/b"))
    check(fs.sync_fs.cat_file(f"{folder}/b") == b"123", use, "fsspec", "the copy differs")
    with pytest.raises(FileNotFoundError):
        s.sync(s.fs_cp_file(fs, f"{folder}/absent", f"{folder}/c"))


# --- dask ------------------------------------------------------------------------------


def test_resource_profiler_hooks_are_called() -> None:
    use = "dask.diagnostics.ResourceProfiler's _start_collect, _stop_collect, _is_running, _dt"
    from dask.diagnostics import ResourceProfiler

    for hook in ("_start_collect", "_stop_collect", "_is_running"):
        private("dask.diagnostics", f"ResourceProfiler.{hook}", use, "dask")
    check(ResourceProfiler(dt=0.5)._dt == 0.5, use, "dask", "dt is not kept as _dt")

    class Counting(seams().ResourceProfilerBase):  # type: ignore[misc]
        def __init__(self, dt: float) -> None:
            super().__init__(dt=dt)
            self.calls: list[str] = []
            self.on = False

        def is_sampling(self) -> bool:
            return self.on

        def start_sampling(self) -> None:
            self.calls.append("start")
            self.on = True

        def stop_sampling(self) -> None:
            self.calls.append("stop")
            self.on = False

    with Counting(dt=0.25) as profiler:
        dask.compute(dask.delayed(sum)([1, 2]), scheduler="synchronous")
    check(profiler.interval == 0.25, use, "dask", f"interval is {profiler.interval}")
    check(
        profiler.calls[0] == "start" and profiler.calls[-1] == "stop", use, "dask",
        f"entering and leaving called {profiler.calls}",
    )  # fmt: skip
    check(profiler._tracker is None, use, "dask", "dask's tracker process started anyway")
    registered = Counting(dt=0.25)  # as dask's scheduler callbacks, too
    registered.register()
    try:
        dask.compute(dask.delayed(sum)([1, 2]), scheduler="synchronous")
    finally:
        registered.unregister()
    check(
        registered.calls == ["start", "stop"], use, "dask",
        f"a compute under a registered profiler called {registered.calls}",
    )  # fmt: skip


# --- distributed -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def burn(n: int) -> int:
    return sum(i * i for i in range(n))


def test_worker_task_cpu_seconds(client: Any) -> None:
    use = "distributed Worker.digests_total"
    worker = next(iter(client.cluster.workers.values()))
    check(hasattr(worker, "digests_total"), use, "distributed", "a worker has no digests_total")
    s = seams()
    (before,) = client.run(s.worker_task_cpu_seconds).values()
    client.submit(burn, 2_000_000, pure=False).result()
    (after,) = client.run(s.worker_task_cpu_seconds).values()
    check(
        isinstance(after, float) and after > before, use, "distributed",
        f"a task that used CPU left it at {after!r} from {before!r}: no "
        "('execute', ..., 'thread-cpu', 'seconds') keys",
    )  # fmt: skip


def test_scheduler_monitor_count(client: Any) -> None:
    use = "distributed Scheduler.monitor.count"
    count = client.run_on_scheduler(seams().scheduler_monitor_count)
    check(
        isinstance(count, int) and count >= 0, use, "distributed",
        f"it gave {count!r}, not a count",
    )  # fmt: skip


def test_cluster_performance_report(client: Any) -> None:
    use = "distributed's scheduler handler performance_report"
    from distributed.scheduler import Scheduler

    private(
        "distributed.scheduler", "Scheduler.performance_report", use, "distributed",
        takes=["start", "last_count", "code", "mode"],
    )  # fmt: skip
    scheduler = client.cluster.scheduler
    check(
        isinstance(scheduler, Scheduler) and "performance_report" in scheduler.handlers,
        use, "distributed", "the scheduler no longer serves it",
    )  # fmt: skip
    s = seams()
    count = client.run_on_scheduler(s.scheduler_monitor_count)
    client.get_task_stream(start=0, stop=0)
    client.submit(burn, 1000, pure=False).result()
    page = s.cluster_performance_report(client, start=0.0, last_count=count, code="seams")
    check("<html" in page[:200].lower(), use, "distributed", f"it gave {page[:80]!r}")


# --- Python's standard library, and hooks documented for subclasses -------------------


def test_sub_parsers_action() -> None:
    use = "argparse._SubParsersAction"
    action = private("argparse", "_SubParsersAction", use, "python")
    verbs = argparse.ArgumentParser().add_subparsers()
    check(isinstance(verbs, action), use, "python", f"add_subparsers gives a {type(verbs)}")
    check(action is seams().SubParsersAction, use, "python", "the seam names another class")


@pytest.mark.parametrize(
    "hook", ["_encode_single", "_decode_single", "_encode_sync", "_decode_sync"]
)
def test_codec_hooks_are_still_called(hook: str) -> None:
    """zarr's documented codec hooks, which ``Crc32cCodec`` overrides in place."""
    use = f"zarr.codecs.Crc32cCodec.{hook}"
    from xzarrio.integrity.checksums import Crc32cCodec

    private("zarr.codecs", f"Crc32cCodec.{hook}", use, "zarr", takes=["chunk_spec"])
    called: list[str] = []
    original = getattr(Crc32cCodec, hook)

    def recording(self: Any, *args: Any) -> Any:
        called.append(hook)
        return original(self, *args)

    async def arecording(self: Any, *args: Any) -> Any:
        called.append(hook)
        return await original(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Crc32cCodec, hook, arecording if hook.endswith("single") else recording)
        store = MemoryStore()
        array = zarr.create_array(
            store, shape=(4,), chunks=(4,), dtype="i4", compressors=[Crc32cCodec()]
        )
        array[:] = np.arange(4)
        back = zarr.open_array(store, mode="r")[:]
    check(np.asarray(back).tolist() == [0, 1, 2, 3], use, "zarr", "the values did not come back")
    check(bool(called), use, "zarr", f"writing and reading a chunk never called {hook}")


def test_ensure_open_opens_a_store_once(tmp_path: Path) -> None:
    use = "zarr.abc.store.Store._ensure_open"
    private("zarr.abc.store", "Store._ensure_open", use, "zarr")
    store = zarr.storage.ZipStore(tmp_path / "s.zip", mode="w")
    check(not store._is_open, use, "zarr", "a ZipStore is open before it is opened")
    asyncio.run(seams().ensure_open(store))
    check(store._is_open, use, "zarr", "it does not open the store")
    asyncio.run(seams().ensure_open(store))  # open already: nothing happens
    check(store._is_open, use, "zarr", "it does not leave an open store open")
    store.close()


def test_rewrapped_makes_the_wrappers_again_around_another_store(tmp_path: Path) -> None:
    use = "zarr.storage.WrapperStore._with_store"
    private("zarr.storage", "WrapperStore._with_store", use, "zarr", takes=["store"])
    handler = logging.NullHandler()
    wrapper = WrapperStore(zarr.storage.LoggingStore(MemoryStore(), "INFO", handler))
    other = LocalStore(tmp_path)
    made = seams().rewrapped(wrapper, other)
    check(type(made) is WrapperStore, use, "zarr", "the outer wrapper is not made again")
    logging_store = seams().wrapped_store(made)
    check(isinstance(logging_store, zarr.storage.LoggingStore), use, "zarr", "nor the inner one")
    check(logging_store.log_handler is handler, use, "zarr", "its details are not kept")
    check(seams().wrapped_store(logging_store) is other, use, "zarr", "around another store")
