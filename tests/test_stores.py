"""Locating a store, and saying what is at a path that holds none."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import xarray as xr
from zarr.abc.store import Store
from zarr.core.buffer import Buffer
from zarr.storage import (
    FsspecStore,
    LocalStore,
    LoggingStore,
    MemoryStore,
    ObjectStore,
    WrapperStore,
    ZipStore,
)

import xzarrio
from xzarrio import errors
from xzarrio.journal.factory import journal_home
from xzarrio.seams import InlineLocalStore, sync
from xzarrio.stores import (
    LocalFolder,
    ObjectPrefix,
    ObstorePrefix,
    check_readable,
    copy_key,
    delete_under,
    group_attributes,
    locate,
    obstore_at,
)

from .conftest import steps
from .s3server import obstore_store


def test_missing_store_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"no zarr store at .*nowhere.zarr': the path does not exist"
    ):
        xzarrio.open_zarr(tmp_path / "nowhere.zarr")
    with pytest.raises(FileNotFoundError):
        xzarrio.info(tmp_path / "nowhere.zarr")


def test_directory_that_is_not_zarr_is_named(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match=r"'.*plain' is not a zarr store: none of \['zarr.json'"):
        xzarrio.open_zarr(tmp_path / "plain")
    (tmp_path / "file.zarr").write_text("x")
    with pytest.raises(ValueError, match=r"'.*file.zarr' is not a zarr store: it is a file"):
        xzarrio.open_zarr(tmp_path / "file.zarr")


def test_missing_group_is_file_not_found(tmp_path: Path) -> None:
    steps(3).zio.to_zarr(tmp_path / "s.zarr")
    with pytest.raises(FileNotFoundError, match=r"no group 'g' in the zarr store"):
        xzarrio.open_zarr(tmp_path / "s.zarr", group="g")


# ------------------------------------------------ store objects: where their journal lives


class CountingStore(WrapperStore[Store]):
    """A wrapper that counts the keys written through it, as a user's wrapper might log."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.written: list[str] = []

    def _with_store(self, store: Store) -> CountingStore:
        return CountingStore(store)

    async def set(self, key: str, value: Buffer) -> None:
        self.written.append(key)
        await super().set(key, value)


def test_a_wrapped_local_store_is_journaled_beside_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    wrapper = CountingStore(LocalStore(path))
    location = locate(wrapper)
    assert isinstance(location, LocalFolder)
    assert location.path == path.absolute()
    assert location.zarr_store() is wrapper  # the writes go through the wrapper
    assert location.journal_outlives_writer
    assert journal_home(location) == path.absolute()


def test_a_wrapped_local_store_stages_through_wrappers_made_alike(tmp_path: Path) -> None:
    location = locate(CountingStore(LocalStore(tmp_path / "s.zarr")))
    assert isinstance(location, LocalFolder)
    staging = location.store_at(tmp_path / ".s.zarr.staging")
    assert isinstance(staging, CountingStore)
    assert cast(LocalStore, staging._store).root == tmp_path / ".s.zarr.staging"
    plain = locate(tmp_path / "s.zarr")
    assert isinstance(plain, LocalFolder)
    assert type(plain.store_at(tmp_path / "x")) is InlineLocalStore  # no wrapper: ours


class RecordingStore(WrapperStore[Store]):
    """A wrapper that records where each key written through it went; the wrappers
    made alike (``_with_store``) record into the same list."""

    def __init__(self, store: Store, log: list[tuple[Path, str]]) -> None:
        super().__init__(store)
        self.log = log

    def _with_store(self, store: Store) -> RecordingStore:
        return RecordingStore(store, self.log)

    async def set(self, key: str, value: Buffer) -> None:
        self.log.append((cast(LocalStore, self._store).root, key))
        await super().set(key, value)


@pytest.mark.parametrize("there", [False, True], ids=["new", "replacing"])
def test_a_staged_write_through_a_wrapped_local_store_goes_through_wrappers_alike(
    there: bool, tmp_path: Path
) -> None:
    """A new store, or mode='w' over one, is staged in a folder beside it and swapped in:
    its chunks are written through a wrapper made as the user's was, into the staging."""
    path = tmp_path / "s.zarr"
    if there:
        steps(2).zio.to_zarr(path)
    log: list[tuple[Path, str]] = []
    steps(6).zio.to_zarr(RecordingStore(LocalStore(path), log), mode="w", chunks={"t": 2})
    chunks = [(root, key) for root, key in log if "/c/" in key]
    assert len(chunks) >= 3, log
    assert {root.name.startswith(".s.zarr") for root, _ in chunks} == {True}, chunks
    xr.testing.assert_equal(xzarrio.open_zarr(path).load(), steps(6))
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]


def test_a_wrapped_fsspec_store_is_journaled_beside_its_prefix() -> None:
    inner = FsspecStore.from_url("memory://bucket/w.zarr")
    location = locate(LoggingStore(inner))
    assert isinstance(location, ObjectPrefix)
    assert location.journal_outlives_writer
    beside = location.beside(".x")
    assert beside is not None
    assert cast(FsspecStore, beside.zarr_store()).path.endswith("bucket/.w.zarr.x")


def test_writes_through_a_wrapped_local_store_go_through_it(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    steps(4).zio.to_zarr(CountingStore(LocalStore(path)), chunks={"t": 2})
    wrapper = CountingStore(LocalStore(path))
    steps(6).isel(t=slice(4, 6)).zio.to_zarr(wrapper, append_dim="t")
    assert any("/c/" in key for key in wrapper.written), wrapper.written
    xr.testing.assert_equal(xzarrio.open_zarr(path).load(), steps(6))
    assert not [p.name for p in tmp_path.iterdir() if p.name != "s.zarr"]


def test_a_memory_store_keeps_its_journal_in_memory() -> None:
    store = MemoryStore()
    steps(4).zio.to_zarr(store, chunks={"t": 2})
    steps(6).isel(t=slice(4, 6)).zio.to_zarr(store, append_dim="t")
    steps(6).zio.to_zarr(store, mode="w")
    assert locate(store).journal_outlives_writer
    assert locate(LoggingStore(store)).journal_outlives_writer
    xr.testing.assert_equal(xzarrio.open_zarr(store).load(), steps(6))


class OwnStore(Store):
    """A user's own store class, neither zarr's Local, Fsspec nor Memory store (its keys
    happen to be kept in a dict, which xzarrio cannot know)."""

    def __init__(self, keys: dict[str, Buffer] | None = None, *, read_only: bool = False) -> None:
        super().__init__(read_only=read_only)
        self.keys = {} if keys is None else keys
        self._inner = MemoryStore(self.keys, read_only=read_only)

    def __repr__(self) -> str:
        return "OwnStore()"

    def with_read_only(self, read_only: bool = False) -> OwnStore:
        return OwnStore(self.keys, read_only=read_only)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OwnStore) and other.keys is self.keys

    supports_writes = supports_deletes = supports_listing = True

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Buffer | None:
        return await self._inner.get(key, prototype, byte_range)

    async def get_partial_values(self, prototype: Any, key_ranges: Any) -> list[Buffer | None]:
        return await self._inner.get_partial_values(prototype, key_ranges)

    async def exists(self, key: str) -> bool:
        return await self._inner.exists(key)

    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()
        await self._inner.set(key, value)

    async def delete(self, key: str) -> None:
        await self._inner.delete(key)

    def list(self) -> AsyncIterator[str]:
        return self._inner.list()

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        return self._inner.list_prefix(prefix)

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        return self._inner.list_dir(prefix)


@pytest.mark.parametrize("how", ["append", "region", "w"])
def test_a_store_object_whose_journal_dies_with_the_writer_is_refused(
    how: str, tmp_path: Path
) -> None:
    store = OwnStore()
    steps(4).zio.to_zarr(store, chunks={"t": 2})
    before = dict(store.keys)
    assert not locate(store).journal_outlives_writer
    ways: dict[str, dict[str, Any]] = {
        "append": {"append_dim": "t"}, "region": {"region": {"t": slice(0, 2)}}, "w": {"mode": "w"}
    }  # fmt: skip
    keywords = ways[how]
    with pytest.raises(errors.InvalidArgumentError, match=r"a path.*a URL with storage_options"):
        steps(2).zio.to_zarr(store, **keywords)
    assert store.keys == before


def test_a_zip_store_is_read_but_not_written(tmp_path: Path) -> None:
    """A zip file cannot delete or replace a key, so no failed write to it could be
    undone: a writable ZipStore is refused before it is opened (nothing made on disk);
    a read-only one is opened if it was not, as zarr opens it, and read."""
    with pytest.raises(errors.InvalidArgumentError, match=r"give a path \(a folder\) and zip"):
        steps(4).zio.to_zarr(ZipStore(tmp_path / "s.zip", mode="w"))
    assert not list(tmp_path.iterdir())
    with ZipStore(tmp_path / "s.zip", mode="w") as store, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zip files take a key twice, and say so
        steps(4).to_zarr(store)
    back = ZipStore(tmp_path / "s.zip")  # read-only, not opened
    xr.testing.assert_equal(xzarrio.open_zarr(back).load(), steps(4))
    assert not locate(back).journal_outlives_writer
    back.close()


def test_a_replace_through_a_symlink_replaces_the_store_it_points_to(tmp_path: Path) -> None:
    """As xarray writes through the link: the link stays, pointing at the new store,
    and nothing is left beside either (issue 22 found the link swapped aside)."""
    (tmp_path / "real").mkdir()
    steps(4).zio.to_zarr(tmp_path / "real" / "s.zarr")
    (tmp_path / "link.zarr").symlink_to(tmp_path / "real" / "s.zarr")
    steps(6, start=10).zio.to_zarr(tmp_path / "link.zarr", mode="w")
    assert (tmp_path / "link.zarr").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.zarr", "real"]
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["s.zarr"]
    xr.testing.assert_equal(xzarrio.open_zarr(tmp_path / "link.zarr").load(), steps(6, start=10))
    xr.testing.assert_equal(xzarrio.open_zarr(tmp_path / "real" / "s.zarr").load(), steps(6, 10))


@pytest.mark.parametrize(
    ("typo", "meant"), [("secrt", "secret"), ("endpoint", "endpoint_url"), ("keyy", "key")]
)
def test_a_storage_option_s3fs_does_not_take_is_named(typo: str, meant: str) -> None:
    """Refused before any connection (aiobotocore raised a TypeError at the first request)."""
    options = {"key": "k", "secret": "s", "endpoint_url": "http://127.0.0.1:9", typo: "x"}
    del options[meant]
    with pytest.raises(errors.ArgumentTypeError, match=rf"{typo!r}.*did you mean {meant!r}"):
        locate("s3://bucket/s.zarr", options)


def test_storage_options_s3fs_takes_are_taken() -> None:
    options = {
        "key": "k", "secret": "s", "endpoint_url": "http://127.0.0.1:9", "anon": False,
        "client_kwargs": {}, "use_listings_cache": False, "skip_instance_cache": True,
        "profile": None, "asynchronous": True,
    }  # fmt: skip
    assert isinstance(locate("s3://bucket/s.zarr", options), ObjectPrefix)
    assert isinstance(locate("memory://s.zarr", {"anything": 1}), ObjectPrefix)


# ------------------------------------------------------------- an S3 store: there, writable


@pytest.mark.parametrize("through", ["fsspec", "obstore"])
def test_a_bucket_without_write_access_is_not_writable(s3_bucket: Any, through: str) -> None:
    """The bucket refuses every PUT (403): refused with StoreNotWritableError when the
    first thing written is refused (the journal's header; for a replace, a probe of the
    staging beside the store); nothing is left."""
    s3_bucket.proxy.refuse_puts(lambda path: True)
    url, options = s3_bucket.store("s.zarr", through)
    new: list[dict[str, Any]] = [{}, {"mode": "w"}]
    for keywords in new:
        with pytest.raises(errors.StoreNotWritableError, match=r"takes no writes"):
            steps(4).zio.to_zarr(url, **options, **keywords)
    assert s3_bucket.snapshot() == {}
    s3_bucket.proxy.allow_all()
    steps(4).zio.to_zarr(url, **options)
    before = s3_bucket.snapshot()
    s3_bucket.proxy.refuse_puts(lambda path: True)
    over: list[dict[str, Any]] = [
        {"append_dim": "t"},
        {"region": {"t": slice(0, 4)}},
        {"mode": "w"},
    ]
    for keywords in over:
        with pytest.raises(errors.StoreNotWritableError, match=r"takes no writes"):
            steps(4).zio.to_zarr(url, **options, **keywords)
    assert s3_bucket.snapshot() == before


# ------------------------------------------------- an S3 store given as obstore's, opt-in


def test_an_obstore_prefix_is_journaled_beside_it_and_named_by_its_url() -> None:
    store = obstore_store("http://127.0.0.1:9", "bucket", "runs/w.zarr")
    location = locate(LoggingStore(store))
    assert isinstance(location, ObstorePrefix)
    assert location.journal_outlives_writer and location.leased and location.named
    assert location.name == "s3://bucket/runs/w.zarr"
    beside = location.beside(".x")
    assert beside.prefix == "runs/.w.zarr.x" and beside.name == "s3://bucket/runs/.w.zarr.x"
    assert beside.under("j1").prefix == "runs/.w.zarr.x/j1"
    # made once: a store of obstore's costs milliseconds to make
    made = [cast(ObjectStore[Any], location.beside(".x").zarr_store()).store for _ in range(2)]
    assert made[0] is made[1]
    assert obstore_at(store.store, "runs/w.zarr") == store.store


def test_an_obstore_bucket_itself_has_no_place_beside_it() -> None:
    location = locate(obstore_store("http://127.0.0.1:9", "bucket", ""))
    with pytest.raises(errors.InvalidArgumentError, match=r"root of its bucket"):
        location.beside(".x")
    assert isinstance(location, ObstorePrefix) and location.around() is None


def test_obstore_keys_are_copied_within_their_bucket(
    s3_bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the server (CopyObject) between prefixes of one bucket with one's settings:
    the bytes never come through this process; a missing key is False."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.storage import ObjectStore

    from xzarrio.seams import sync

    one = obstore_store(s3_bucket.endpoint, s3_bucket.name, "a")
    other = obstore_store(s3_bucket.endpoint, s3_bucket.name, "b")
    sync(one.set("k", default_buffer_prototype().buffer.from_bytes(b"bytes")))

    async def no_get(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the bytes came through this process")

    with monkeypatch.context() as patch:
        patch.setattr(ObjectStore, "get", no_get)
        assert sync(copy_key(one, "k", other, "k2"))
        assert not sync(copy_key(one, "missing", other, "k3"))
    assert s3_bucket.snapshot().keys() == {"a/k", "b/k2"}
    # another endpoint of the same bucket (other settings): copied through this process
    elsewhere = obstore_store(s3_bucket.proxy.upstream, s3_bucket.name, "c")
    assert sync(copy_key(one, "k", elsewhere, "k"))
    assert s3_bucket.snapshot()["c/k"] == s3_bucket.snapshot()["a/k"]


@pytest.mark.parametrize("through", ["fsspec", "obstore"])
def test_a_folder_of_a_bucket_is_deleted_in_two_requests(s3_bucket: Any, through: str) -> None:
    """A listing and one bulk delete (S3's DeleteObjects), whatever the count of keys;
    keys of a neighbour whose name begins alike stay."""
    from zarr.core.buffer import default_buffer_prototype

    from xzarrio.seams import sync

    if through == "obstore":
        store: Any = obstore_store(s3_bucket.endpoint, s3_bucket.name, "")
    else:
        store = FsspecStore.from_url(s3_bucket.url, storage_options=s3_bucket.storage_options)
    data = default_buffer_prototype().buffer.from_bytes(b"x")
    for key in ["j/a", "j/b/c", "j/d", "j/e/f/g", "j2/kept"]:
        sync(store.set(key, data))
    s3_bucket.proxy.allow_all()
    sync(delete_under(store, "j"))
    assert s3_bucket.proxy.forwarded == 2
    assert list(s3_bucket.snapshot()) == ["j2/kept"]


@pytest.mark.parametrize("scheduler", ["processes", "client"])
def test_an_obstore_prefix_is_written_by_worker_processes(
    s3_bucket: Any, scheduler: str, request: pytest.FixtureRequest
) -> None:
    """The store travels to the workers (pickled) and their chunks and digests come back."""
    how: Any = request.getfixturevalue("process_cluster") if scheduler == "client" else scheduler
    store = obstore_store(s3_bucket.endpoint, s3_bucket.name, "w.zarr")
    steps(4).chunk({"t": 2}).zio.to_zarr(store, scheduler=how)
    steps(6).isel(t=slice(4, 6)).chunk({"t": 2}).zio.to_zarr(store, append_dim="t", scheduler=how)
    steps(2).chunk({"t": 2}).zio.to_zarr(store, region={"t": slice(0, 2)}, scheduler=how)
    xr.testing.assert_equal(xzarrio.open_zarr(store).load(), steps(6))
    assert xzarrio.verify(store).ok
    assert not [k for k in s3_bucket.snapshot() if not k.startswith("w.zarr/")]


def test_a_missing_s3_store_is_not_found(s3_bucket: Any) -> None:
    where = locate(f"{s3_bucket.url}/nowhere.zarr", s3_bucket.storage_options)
    with pytest.raises(errors.StoreNotFoundError, match=r"no zarr store at 's3://.*nowhere.zarr'"):
        check_readable(where)
    steps(4).zio.to_zarr(f"{s3_bucket.url}/s.zarr", storage_options=s3_bucket.storage_options)
    there = locate(f"{s3_bucket.url}/s.zarr", s3_bucket.storage_options)
    check_readable(there)
    with pytest.raises(errors.StoreNotFoundError, match=r"no group 'g' in the zarr store"):
        check_readable(there, "g")


def test_info_and_verify_of_a_missing_s3_store_are_not_found(s3_bucket: Any) -> None:
    url, options = f"{s3_bucket.url}/nowhere.zarr", s3_bucket.storage_options
    with pytest.raises(errors.StoreNotFoundError, match=r"no zarr store at 's3://"):
        xzarrio.info(url, storage_options=options)
    with pytest.raises(errors.StoreNotFoundError, match=r"no zarr store at 's3://"):
        xzarrio.verify(url, storage_options=options)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_group_attributes_are_read_from_the_groups_own_metadata(
    tmp_path: Path, zarr_format: int
) -> None:
    path = tmp_path / "s.zarr"
    steps(3).assign_attrs(title="three").to_zarr(path, zarr_format=zarr_format, group="g")
    store = LocalStore(path)
    key, attrs = sync(group_attributes(store, "g")) or ("", {})
    assert (key, attrs["title"]) == ("g/zarr.json" if zarr_format == 3 else "g/.zattrs", "three")
    assert sync(group_attributes(store, "absent")) is None
    (path / ("g/zarr.json" if zarr_format == 3 else "g/.zattrs")).write_text("{not json")
    assert sync(group_attributes(store, "g")) is None  # zarr says what is wrong with it
