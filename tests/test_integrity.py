"""Integrity: chunk checksums, per-chunk digests in manifests, and ``verify``.

A store is damaged each way a disk, a sync tool or a stray writer damages
one, on a local store and on the S3 server, and ``verify`` must name each
damage with its variable and chunk; a store left alone must be whole after
every kind of write.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import xarray as xr
import xxhash
import zarr
import zarr.core.codec_pipeline
from zarr.codecs import BloscCodec, ZstdCodec
from zarr.codecs import Crc32cCodec as ZarrCrc32cCodec
from zarr.core.metadata import ArrayV3Metadata

import xzarrio
from xzarrio.errors import XzarrioError
from xzarrio.integrity.checksums import Crc32cCodec
from xzarrio.integrity.manifest import Manifest, ManifestError
from xzarrio.integrity.record import RECORD_KEY

from .conftest import snapshot

# ------------------------------------------------------------------ helpers


def field(times: int = 8, start: int = 0) -> xr.Dataset:
    """``t(time, y, x)`` float32, with the chunk (time 4-7, y 0-4) all NaN (never stored)."""
    values = np.arange(start * 50, (start + times) * 50, dtype="f4").reshape(times, 10, 5)
    if start == 0 and times >= 8:
        values[4:8, 0:5] = np.nan
    return xr.Dataset(
        {"t": (("time", "y", "x"), values, {"units": "K"})},
        coords={"time": np.arange(start, start + times)},
    )


CHUNKS = {"time": 4, "y": 5, "x": 5}


class Place:
    """A store's folder on a file system (local or the S3 server), to damage by hand."""

    def __init__(self, fs: Any, root: str, url: str, options: dict[str, Any] | None) -> None:
        self.fs, self.root, self.url, self.options = fs, root, url, options

    def key(self, key: str) -> str:
        return f"{self.root}/{key}"

    def read(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self.key(key)))

    def write(self, key: str, data: bytes) -> None:
        self.fs.makedirs(self.key(key).rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(self.key(key), data)
        self.fs.invalidate_cache()

    def delete(self, key: str) -> None:
        self.fs.rm_file(self.key(key))
        self.fs.invalidate_cache()

    def verify(self, **kwargs: Any) -> xzarrio.VerifyReport:
        return xzarrio.verify(self.url, storage_options=self.options, **kwargs)

    def open_array(self, path: str) -> zarr.Array:
        return zarr.open_array(self.url, path=path, mode="r+", storage_options=self.options)


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if request.param == "local":
        root = str(tmp_path / "field.zarr")
        return Place(fsspec.filesystem("file"), root, root, None)
    bucket = request.getfixturevalue("s3_bucket")
    fs = fsspec.filesystem("s3", **bucket.storage_options)
    return Place(
        fs, f"{bucket.name}/field.zarr", f"{bucket.url}/field.zarr", bucket.storage_options
    )


def write_field(place: Place, **kwargs: Any) -> None:
    field().zio.to_zarr(place.url, chunks=CHUNKS, storage_options=place.options, **kwargs)


def record_of(store: Any, group: str = "", **kwargs: Any) -> Any:
    """What the group records of its manifests (its own metadata, not the consolidated)."""
    node = zarr.open_group(store, path=group, mode="r", use_consolidated=False, **kwargs)
    return node.attrs.asdict().get(RECORD_KEY)


def kinds(report: xzarrio.VerifyReport) -> list[tuple[str, str, str]]:
    return [(p.variable, p.chunk, p.kind) for p in report.problems]


# ------------------------------------------------------------------ damage, each way


def flip_a_byte(place: Place) -> None:
    data = bytearray(place.read("t/c/0/1/0"))
    data[len(data) // 2] ^= 0x10
    place.write("t/c/0/1/0", bytes(data))


def truncate(place: Place) -> None:
    place.write("t/c/1/1/0", place.read("t/c/1/1/0")[:-9])


def delete(place: Place) -> None:
    place.delete("t/c/0/0/0")


def add_in_the_grid(place: Place) -> None:
    place.write("t/c/1/0/0", place.read("t/c/0/0/0"))  # where only fill value was


def add_outside_the_grid(place: Place) -> None:
    place.write("t/c/9/0/0", place.read("t/c/0/0/0"))


def swap(place: Place) -> None:
    first, second = place.read("t/c/0/0/0"), place.read("t/c/0/1/0")
    place.write("t/c/0/0/0", second)
    place.write("t/c/0/1/0", first)


def edit_through_zarr(place: Place) -> None:
    place.open_array("t")[1, 6, 2] = 1e6  # behind xzarrio's back: zarr's own write


DAMAGE: dict[str, tuple[Callable[[Place], None], list[tuple[str, str, str]]]] = {
    "flipped byte": (flip_a_byte, [("t", "c/0/1/0", "checksum")]),
    "truncated": (truncate, [("t", "c/1/1/0", "checksum")]),
    "deleted": (delete, [("t", "c/0/0/0", "missing")]),
    "extra in the grid": (add_in_the_grid, [("t", "c/1/0/0", "extra")]),
    "extra outside the grid": (add_outside_the_grid, [("t", "c/9/0/0", "extra")]),
    "swapped": (swap, [("t", "c/0/0/0", "swapped"), ("t", "c/0/1/0", "swapped")]),
    "edited through zarr": (edit_through_zarr, [("t", "c/0/1/0", "digest")]),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_verify_names_each_damage(place: Place, damage: str) -> None:
    write_field(place)
    assert place.verify().ok
    do, expected = DAMAGE[damage]
    do(place)
    report = place.verify()
    assert not report.ok
    assert kinds(report) == expected, report
    for problem in report.problems:
        assert problem.variable in str(problem) and problem.chunk in str(problem)


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "deleted", "edited through zarr"])
def test_quick_checks_checksums_and_the_listing_only(place: Place, damage: str) -> None:
    write_field(place)
    do, expected = DAMAGE[damage]
    do(place)
    report = place.verify(quick=True)
    if damage == "edited through zarr":
        assert report.ok, "zarr's own write stores a valid checksum: only digests tell"
    else:
        assert kinds(report) == expected
    assert not report.full


def test_a_truncated_chunk_without_checksums_does_not_decode(tmp_path: Path) -> None:
    field().zio.to_zarr(tmp_path / "s.zarr", chunks=CHUNKS, checksums=False)
    place = Place(
        fsspec.filesystem("file"), str(tmp_path / "s.zarr"), str(tmp_path / "s.zarr"), None
    )
    truncate(place)
    report = place.verify()
    assert kinds(report) == [("t", "c/1/1/0", "undecodable")]
    assert any("carry no checksum" in note for note in report.unverified)
    quick = place.verify(quick=True)  # nothing to check quickly: no chunk is read
    assert quick.ok and quick.chunks_checked == 0 and quick.variables == ("t", "time")


# ------------------------------------------------------------------ a manifest gone or unreadable

MAIN = "t/.xzarrio/manifest.json"


def delete_the_manifest(place: Place) -> None:
    place.delete(MAIN)


def garble_the_manifest(place: Place) -> None:
    place.write(MAIN, b"{not json")


def test_a_deleted_manifest_is_a_problem(place: Place) -> None:
    write_field(place)
    delete_the_manifest(place)
    for report in (place.verify(), place.verify(quick=True)):
        assert kinds(report) == [("t", ".xzarrio/manifest.json", "manifest")], report
        assert "its manifest is gone, though its group records one" in str(report.problems[0])


def test_a_swap_after_deleting_the_manifest_is_found(place: Place) -> None:
    write_field(place)
    delete_the_manifest(place)
    swap(place)
    report = place.verify()
    assert kinds(report) == [("t", "*", "digest"), ("t", ".xzarrio/manifest.json", "manifest")]
    assert "no longer give the digest its group records" in report.problems[0].message


def test_a_manifest_that_is_not_json_is_a_problem(place: Place) -> None:
    write_field(place)
    garble_the_manifest(place)
    assert kinds(place.verify()) == [("t", ".xzarrio/manifest.json", "manifest")]
    flip_a_byte(place)  # the chunks are still checked, and their digest with the record's
    report = place.verify()
    assert kinds(report) == [
        ("t", "*", "digest"),
        ("t", ".xzarrio/manifest.json", "manifest"),
        ("t", "c/0/1/0", "checksum"),
    ]
    assert "its manifest does not read: 't/.xzarrio/manifest.json' is not JSON" in str(report)


def test_a_manifest_restored_from_before_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "restored.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)
    older = (path / MAIN).read_bytes()
    field(4, start=8).zio.to_zarr(path, append_dim="time")
    (path / MAIN).write_bytes(older)  # with the chunks it names: consistent, but not the last
    report = xzarrio.verify(path)
    assert ("t", ".xzarrio/manifest.json", "manifest") in kinds(report)
    assert "is not the one xzarrio wrote last" in str(report)


def unchanged(path: Path) -> dict[str, str]:
    """Every file of the store (path: sha256) but an array's generation tokens, which a
    write that begins changes and nothing puts back: they say "may have changed"."""
    return {k: v for k, v in snapshot(path).items() if not k.endswith(".xzarrio/generation")}


def append_to(path: Path) -> None:
    field(4, start=8).zio.to_zarr(path, append_dim="time")


def write_a_region_of(path: Path) -> None:
    field(4, start=100).drop_vars("time").zio.to_zarr(path, region={"time": slice(0, 4)})


@pytest.mark.parametrize(
    "damage", [garble_the_manifest, delete_the_manifest], ids=["garbled", "deleted"]
)
@pytest.mark.parametrize("write", [append_to, write_a_region_of], ids=["append", "region"])
def test_writes_refuse_a_manifest_they_cannot_trust(
    tmp_path: Path, damage: Callable[[Place], None], write: Callable[[Path], None]
) -> None:
    path = tmp_path / "refused.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)
    damage(Place(fsspec.filesystem("file"), str(path), str(path), None))
    before = unchanged(path)
    with pytest.raises(ManifestError) as refused:
        write(path)
    assert isinstance(refused.value, XzarrioError) and isinstance(refused.value, ValueError)
    message = str(refused.value)
    assert "manifest of 't'" in message and "t/.xzarrio/manifest.json" in message
    assert f"xzarrio.verify({str(path)!r})" in message
    assert "xzarrio.repair cannot rebuild a manifest" in message
    assert unchanged(path) == before, "the store unchanged, byte for byte"


def test_a_write_can_check_its_manifests_before_it_writes(tmp_path: Path) -> None:
    from xzarrio.seams import sync
    from xzarrio.writing import WriteRequest, plan_write
    from xzarrio.writing.manifests import check_manifests

    path = tmp_path / "early.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)
    appending = plan_write(field(4, start=8), path, WriteRequest.of(append_dim="time"))
    patch = field(4, start=100).drop_vars("time")
    region = plan_write(patch, path, WriteRequest.of(region={"time": slice(0, 4)}))
    store = appending.target.location.zarr_store()
    for plan in (appending, region):
        sync(check_manifests(plan, store))  # whole: nothing to refuse
    (path / MAIN).write_bytes(b"{")
    for plan in (appending, region):
        with pytest.raises(ManifestError, match=r"is not JSON.*xzarrio\.verify"):
            sync(check_manifests(plan, store))
    (path / MAIN).unlink()
    with pytest.raises(ManifestError, match="is gone, though its group records one"):
        sync(check_manifests(appending, store))
    # a region writer beside others on a local store: judged after its data, under the lock
    sync(check_manifests(region, store))


def test_a_write_that_holds_the_store_alone_reads_its_manifests_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an append checks them when it begins, and nothing can change them before its end;
    # a region writer beside others reads them again after its data, under the lock
    import xzarrio.writing.manifests as manifests

    path = tmp_path / "once.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)
    read: list[str] = []
    read_stored = manifests.read_stored

    async def counted(store: Any, array_path: str, **kwargs: Any) -> Any:
        read.append(array_path)
        return await read_stored(store, array_path, **kwargs)

    monkeypatch.setattr(manifests, "read_stored", counted)
    field(4, start=8).zio.to_zarr(path, append_dim="time")
    assert sorted(read) == ["t", "time"]
    read.clear()
    patch = field(4, start=100).drop_vars("time")
    patch.zio.to_zarr(path, region={"time": slice(0, 4)})
    assert sorted(read) == ["t", "t"]
    monkeypatch.undo()
    assert xzarrio.verify(path).ok


def test_the_record_is_out_of_sight_and_a_copy_gets_its_own(tmp_path: Path) -> None:
    path = tmp_path / "recorded.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)
    record = record_of(path)
    assert sorted(record) == ["t", "time"]
    assert record["t"]["complete"] is True and len(record["t"]["digest"]) == 32
    assert RECORD_KEY not in xr.open_zarr(path).attrs  # xarray hides attributes named _nc*
    assert RECORD_KEY not in xzarrio.open_zarr(path).attrs
    xzarrio.open_zarr(path).isel(time=slice(0, 4)).zio.to_zarr(tmp_path / "half.zarr")
    whole(tmp_path / "half.zarr")
    assert record_of(tmp_path / "half.zarr")["t"] != record["t"]


def test_a_store_written_without_provenance_has_its_record(tmp_path: Path) -> None:
    path = tmp_path / "plain.zarr"
    with xzarrio.set_options(provenance=False):
        field().zio.to_zarr(path, chunks=CHUNKS)
        append_to(path)
    assert "history" not in zarr.open_group(path).attrs
    whole(path)
    (path / MAIN).unlink()
    assert kinds(xzarrio.verify(path)) == [("t", ".xzarrio/manifest.json", "manifest")]


def drop_the_record(path: Path, group: str = "") -> None:
    """As a store written before the group recorded its manifests."""
    node = zarr.open_group(path, path=group, mode="r+", use_consolidated=False)
    attrs = node.attrs.asdict()
    del attrs[RECORD_KEY]
    node.attrs.put(attrs)


def test_a_store_without_a_record_verifies_as_before_and_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "older.zarr"
    xr.Dataset({"u": ("z", np.arange(12.0))}).merge(field()).zio.to_zarr(path, chunks=CHUNKS)
    drop_the_record(path)
    shutil.rmtree(path / "u" / ".xzarrio")
    report = xzarrio.verify(path)
    assert report.ok and any("u: no manifest" in note for note in report.unverified)
    append_to(path)  # u has no time: the append leaves it alone
    record = record_of(path)
    assert sorted(record) == ["t", "time"], "the manifests there are recorded, u has none"
    whole(path, variables=["t", "time"])
    (path / MAIN).unlink()
    assert ("t", ".xzarrio/manifest.json", "manifest") in kinds(xzarrio.verify(path))


def test_a_recorded_variable_gone_from_the_store_is_named(tmp_path: Path) -> None:
    path = tmp_path / "gone.zarr"
    three = xr.Dataset({name: ("x", np.arange(12.0)) for name in ("u", "v", "w")})
    three.zio.to_zarr(path, chunks={"x": 5})
    shutil.rmtree(path / "w")
    zarr.consolidate_metadata(str(path))  # as if nothing had named it
    report = xzarrio.verify(path)
    assert [(p.variable, p.chunk, p.kind) for p in report.problems] == [
        ("w", "zarr.json", "missing")
    ]
    assert "its group records its manifest" in report.problems[0].message
    assert xzarrio.verify(path, variables=["u"]).ok


def test_a_group_records_its_own_manifests(tmp_path: Path) -> None:
    path = tmp_path / "nested.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS, group="run/a")
    assert RECORD_KEY not in zarr.open_group(path).attrs
    assert sorted(record_of(path, "run/a")) == ["t", "time"]
    consolidated = zarr.open_group(path)["run/a"]
    assert RECORD_KEY in consolidated.attrs, "the consolidated metadata holds it too"
    (path / "run/a" / MAIN).unlink()
    assert kinds(xzarrio.verify(path)) == [("run/a/t", ".xzarrio/manifest.json", "manifest")]


def test_source_digests_leave_out_a_manifest_that_does_not_read(tmp_path: Path) -> None:
    path = tmp_path / "source.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)
    (path / MAIN).write_bytes(b"[]")
    report = xzarrio.open_zarr(path).zio.to_zarr(tmp_path / "copy.zarr")
    line = report.provenance.history[0].text
    assert "'time': " in line and "'t': " not in line


# ------------------------------------------------------------------ whole after every write


def whole(url: Any, **kwargs: Any) -> xzarrio.VerifyReport:
    report = xzarrio.verify(url, **kwargs)
    assert report.ok, report
    assert not [n for n in report.unverified if "no manifest" in n or "holds only" in n], report
    return report


def test_whole_after_write_append_and_region_write(tmp_path: Path) -> None:
    path = tmp_path / "grow.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)
    whole(path)
    field(6, start=8).zio.to_zarr(path, append_dim="time")  # fills the last chunk in part
    whole(path)
    patch = field(4, start=100).isel(y=slice(0, 5)).drop_vars("time")
    patch.zio.to_zarr(path, region={"time": slice(4, 8), "y": slice(0, 5)})
    report = whole(path)
    assert report.chunks_checked == 4 * 2 + 1  # t: 4 x 2 x 1, time: one chunk
    reopened = xr.open_zarr(path)
    assert float(reopened.t[4, 0, 0]) == float(patch.t[0, 0, 0])


def test_whole_after_partial_chunk_region_writes(tmp_path: Path) -> None:
    path = tmp_path / "parts.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)
    for start in (1, 2):  # each covers chunks in part: read, patched, digest read back
        part = field(1, start=200 + start).drop_vars("time")
        part.zio.to_zarr(path, region={"time": slice(start, start + 1)})
    whole(path)


def test_whole_after_template_and_region_fills(tmp_path: Path) -> None:
    path = tmp_path / "template.zarr"
    full = field(8).chunk({"time": 4})
    full.zio.to_zarr(path, chunks=CHUNKS, compute=False)
    for start in (0, 4):
        full.isel(time=slice(start, start + 4)).drop_vars("time").zio.to_zarr(
            path, region={"time": slice(start, start + 4)}
        )
    whole(path)


def test_whole_after_copy_and_two_pass_rechunk(tmp_path: Path) -> None:
    source = tmp_path / "steps.zarr"
    field().zio.to_zarr(source, chunks={"time": 1})
    copied = tmp_path / "copy.zarr"
    done = subprocess.run(
        [sys.executable, "-m", "xzarrio.cli", "copy", str(source), str(copied), "--no-progress"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    whole(copied)
    series = xzarrio.open_zarr(source).zio.rechunk(
        tmp_path / "series.zarr", {"time": -1, "y": 2, "x": 5}, max_mem="4KiB"
    )
    whole(series.store)


def test_whole_after_a_write_on_processes(tmp_path: Path) -> None:
    path = tmp_path / "processes.zarr"
    field().chunk({"time": 4}).zio.to_zarr(
        path, chunks=CHUNKS, scheduler="processes", num_workers=2
    )
    whole(path)


def test_region_writes_on_the_s3_server_add_fragments_that_merge(s3_bucket: Any) -> None:
    url, options = f"{s3_bucket.url}/frag.zarr", s3_bucket.storage_options
    field().zio.to_zarr(url, chunks=CHUNKS, storage_options=options)
    recorded = record_of(url, storage_options=options)
    for start in (0, 4):
        patch = field(4, start=300 + start).drop_vars("time")
        patch.zio.to_zarr(url, region={"time": slice(start, start + 4)}, storage_options=options)
    fs = fsspec.filesystem("s3", **options)
    fragments = fs.glob(f"{s3_bucket.name}/frag.zarr/t/.xzarrio/manifest-*.json")
    assert len(fragments) == 2, "each region writer adds its own entries: no lost update"
    assert record_of(url, storage_options=options) == recorded, (
        "the record holds the main file's digest"
    )
    whole(url, storage_options=options)
    field(4, start=8).zio.to_zarr(url, append_dim="time", storage_options=options)
    assert not fs.glob(f"{s3_bucket.name}/frag.zarr/t/.xzarrio/manifest-*.json"), "folded"
    main = json.loads(fs.cat_file(f"{s3_bucket.name}/frag.zarr/t/.xzarrio/manifest.json"))
    digest = Manifest(main["chunks"], main["complete"], main["algorithm"]).digest
    assert record_of(url, storage_options=options)["t"] == {"digest": digest, "complete": True}
    whole(url, storage_options=options)
    fs.pipe_file(f"{s3_bucket.name}/frag.zarr/t/.xzarrio/manifest.json", b"{")
    patch = field(4, start=400).drop_vars("time")
    with pytest.raises(ManifestError, match=r"xzarrio\.repair cannot rebuild a manifest"):
        patch.zio.to_zarr(url, region={"time": slice(0, 4)}, storage_options=options)


def test_a_failed_region_write_leaves_the_manifest_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "failed.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)
    before = (path / "t/.xzarrio/manifest.json").read_bytes()

    def explode(block: np.ndarray) -> np.ndarray:
        raise RuntimeError("a task fails")

    bad = field(4, start=500).drop_vars("time").chunk({"time": 2})
    bad["t"] = bad.t.copy(data=bad.t.data.map_blocks(explode, dtype="f4"))
    with pytest.raises(RuntimeError, match="a task fails"):
        bad.zio.to_zarr(path, region={"time": slice(0, 4)})
    assert (path / "t/.xzarrio/manifest.json").read_bytes() == before
    whole(path)


# ------------------------------------------------------------------ checksums


def codecs_of(path: Any, name: str = "t") -> tuple[Any, ...]:
    return tuple(zarr.open_array(path, path=name).compressors)


def test_checksums_of_small_chunks_stay_in_the_loop_large_go_to_worker_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hop to a worker thread costs more than a small chunk's checksum; a large chunk's
    runs beside the others. Either way, the bytes are zarr's own codec's."""
    import asyncio

    from zarr.buffer import default_buffer_prototype
    from zarr.core.array_spec import ArrayConfig, ArraySpec
    from zarr.core.dtype import Float32

    from xzarrio.integrity import checksums
    from xzarrio.seams import INLINE_BYTES, sync

    hops: list[str] = []
    to_thread = asyncio.to_thread

    async def counted(work: Any, *args: Any) -> Any:
        hops.append(work.__name__)
        return await to_thread(work, *args)

    monkeypatch.setattr(checksums.asyncio, "to_thread", counted)
    prototype = default_buffer_prototype()
    config = ArrayConfig.from_dict({})
    spec = ArraySpec((1,), Float32(), 0.0, config, prototype)
    for size, hopped in [(INLINE_BYTES - 4, 0), (INLINE_BYTES + 1, 2)]:  # 4: the checksum
        hops.clear()
        raw = prototype.buffer.from_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
        ours = sync(Crc32cCodec()._encode_single(raw, spec))
        theirs = sync(ZarrCrc32cCodec()._encode_single(raw, spec))
        assert ours is not None and theirs is not None
        assert ours.to_bytes() == theirs.to_bytes()
        assert sync(Crc32cCodec()._decode_single(ours, spec)).to_bytes() == raw.to_bytes()
        assert len(hops) == hopped, (size, hops)


def test_checksum_last_by_default_never_twice_and_off_on_request(tmp_path: Path) -> None:
    field().zio.to_zarr(tmp_path / "on.zarr", chunks=CHUNKS)
    codecs = codecs_of(tmp_path / "on.zarr")
    assert isinstance(codecs[-1], ZarrCrc32cCodec) and isinstance(codecs[0], BloscCodec)
    assert sum(isinstance(c, ZarrCrc32cCodec) for c in codecs) == 1
    # a copy of a checksummed store keeps one
    xzarrio.open_zarr(tmp_path / "on.zarr").zio.to_zarr(tmp_path / "copy.zarr")
    assert sum(isinstance(c, ZarrCrc32cCodec) for c in codecs_of(tmp_path / "copy.zarr")) == 1
    without: dict[str, dict[str, Any]] = {
        "off.zarr": {"checksums": False},
        "user.zarr": {"encoding": {"t": {"compressors": [ZstdCodec(level=1)]}}},
        "v2.zarr": {"zarr_format": 2},
    }
    for where, kwargs in without.items():
        field().zio.to_zarr(tmp_path / where, chunks=CHUNKS, **kwargs)
        assert not any(isinstance(c, ZarrCrc32cCodec) for c in codecs_of(tmp_path / where)), where
    with xzarrio.set_options(checksums=False):
        field().zio.to_zarr(tmp_path / "option.zarr", chunks=CHUNKS)
    assert not any(isinstance(c, ZarrCrc32cCodec) for c in codecs_of(tmp_path / "option.zarr"))
    field().zio.to_zarr(tmp_path / "none.zarr", compressor="none")
    assert isinstance(codecs_of(tmp_path / "none.zarr")[-1], ZarrCrc32cCodec)
    # a checksummed zarr 3 source copied to zarr 2 drops it (format 2 has none)
    xzarrio.open_zarr(tmp_path / "on.zarr").zio.to_zarr(tmp_path / "to2.zarr", zarr_format=2)
    assert xzarrio.verify(tmp_path / "to2.zarr").ok
    with pytest.raises(TypeError, match="checksums takes True or False"):
        field().zio.to_zarr(tmp_path / "bad.zarr", checksums="yes")
    with pytest.raises(ValueError, match="checksums"):
        xzarrio.set_options(checksums=1)


def test_the_checksum_codec_is_spec_identical_to_zarrs(tmp_path: Path) -> None:
    values = np.random.default_rng(0).random((40, 30))
    ours = zarr.create_array(
        tmp_path / "ours.zarr", shape=values.shape, chunks=(10, 30), dtype="f8",
        compressors=[ZstdCodec(level=3), Crc32cCodec()],
    )  # fmt: skip
    ours[:] = values
    theirs = zarr.create_array(
        tmp_path / "theirs.zarr", shape=values.shape, chunks=(10, 30), dtype="f8",
        compressors=[ZstdCodec(level=3), ZarrCrc32cCodec()],
    )  # fmt: skip
    theirs[:] = values
    for key in ("c/0/0", "c/3/0"):
        assert (tmp_path / "ours.zarr" / key).read_bytes() == (
            tmp_path / "theirs.zarr" / key
        ).read_bytes()
    assert zarr.config.get("codecs.crc32c") == "xzarrio.integrity.checksums.Crc32cCodec"
    with zarr.config.set({"codecs.crc32c": "zarr.codecs.crc32c_.Crc32cCodec"}):
        reread = zarr.open_array(tmp_path / "ours.zarr")
        assert isinstance(reread.metadata, ArrayV3Metadata)
        assert type(reread.metadata.codecs[-1]) is ZarrCrc32cCodec
        np.testing.assert_array_equal(reread[:], values)


# ------------------------------------------------------------------ lineage, old stores, CLI


def test_a_rechunk_records_its_sources_digests(tmp_path: Path) -> None:
    source = tmp_path / "src.zarr"
    field().zio.to_zarr(source, chunks=CHUNKS)
    manifest = json.loads((source / "t/.xzarrio/manifest.json").read_bytes())
    digest = Manifest(manifest["chunks"], manifest["complete"], manifest["algorithm"]).digest
    report = xzarrio.open_zarr(source).zio.rechunk(tmp_path / "dst.zarr", {"time": -1})
    line = report.provenance.history[0].text
    assert f"'t': '{digest}'" in line and "source_digests=" in line
    copied = xzarrio.open_zarr(source).zio.to_zarr(tmp_path / "copy.zarr")  # a copy too
    assert f"'t': '{digest}'" in copied.provenance.history[0].text
    plain = field().zio.to_zarr(tmp_path / "plain.zarr")  # from memory: no source
    assert "source_digests" not in plain.provenance.history[0].text


def test_stores_of_other_writers_are_verified_as_far_as_they_can_be(tmp_path: Path) -> None:
    field().to_zarr(tmp_path / "plain3.zarr", zarr_format=3)  # plain xarray: no manifest
    report = xzarrio.verify(tmp_path / "plain3.zarr")
    assert report.ok and report.chunks_checked > 0
    assert any("t: no manifest" in note for note in report.unverified)
    field().chunk({"time": 4}).to_zarr(tmp_path / "plain2.zarr", zarr_format=2)
    path = tmp_path / "plain2.zarr" / "t" / "0.0.0"
    path.write_bytes(path.read_bytes()[:-7])
    report = xzarrio.verify(tmp_path / "plain2.zarr")
    assert kinds(report) == [("t", "0.0.0", "undecodable")]
    # an append by xzarrio to such a store starts a manifest of what it writes
    field(4, start=8).zio.to_zarr(tmp_path / "plain3.zarr", append_dim="time")
    report = xzarrio.verify(tmp_path / "plain3.zarr")
    assert report.ok and any("t: its manifest holds only" in n for n in report.unverified)


def test_sharded_arrays_are_checked_by_their_checksums(tmp_path: Path) -> None:
    path = tmp_path / "sharded.zarr"
    field().zio.to_zarr(path, encoding={"t": {"chunks": (4, 5, 5), "shards": (8, 10, 5)}})
    report = xzarrio.verify(path)
    assert report.ok and any("t: sharded" in note for note in report.unverified)
    shard = path / "t/c/0/0/0"
    data = bytearray(shard.read_bytes())
    data[20] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert [p.kind for p in xzarrio.verify(path).problems] in (["checksum"], ["undecodable"])


def test_verify_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "cli.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "xzarrio.cli", "verify", str(path), "--no-progress"]
        return subprocess.run([*command, *args], capture_output=True, text=True)

    done = run()
    assert done.returncode == 0 and "whole" in done.stdout, done.stdout + done.stderr
    place = Place(fsspec.filesystem("file"), str(path), str(path), None)
    flip_a_byte(place)
    delete(place)
    done = run()
    assert done.returncode == 1
    assert done.stdout.splitlines()[:2] == [
        "t c/0/0/0: in the manifest but absent from the store",
        f"t c/0/1/0: {done.stdout.splitlines()[1].split(': ', 1)[1]}",
    ]
    assert "checksum mismatch" in done.stdout.splitlines()[1]
    assert run("--variable", "time").returncode == 0
    bad = run("--variable", "nope")
    assert bad.returncode == 1 and "no variable ['nope']" in bad.stderr


def test_verify_refuses_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        xzarrio.verify(tmp_path / "nothing.zarr")


def test_a_group_keeps_its_manifests_beside_its_arrays(tmp_path: Path) -> None:
    path = tmp_path / "groups.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS, group="run/a")
    assert (path / "run/a/t/.xzarrio/manifest.json").is_file()
    assert sorted(xr.open_zarr(path, group="run/a").variables) == ["t", "time"]
    assert xzarrio.verify(path).variables == ("run/a/t", "run/a/time")
    whole(path, group="run/a")


class UndigestedPipeline(zarr.core.codec_pipeline.BatchedCodecPipeline):
    """zarr's pipeline under another name: as if a user had chosen another one."""


def test_another_codec_pipeline_takes_no_digests_and_leaves_no_stale_manifest(
    tmp_path: Path,
) -> None:
    from zarr.registry import register_pipeline

    register_pipeline(UndigestedPipeline)
    path = tmp_path / "other.zarr"
    field().zio.to_zarr(path, chunks=CHUNKS)
    (path / "t/.xzarrio/note").write_text("kept")  # another file of xzarrio's there
    with zarr.config.set({"codec_pipeline.path": f"{__name__}.UndigestedPipeline"}):
        field(4, start=8).zio.to_zarr(path, append_dim="time")
    assert not list(path.glob("t*/.xzarrio/manifest*")), "no manifest, nor its fragments"
    assert (path / "t/.xzarrio/note").read_text() == "kept"
    assert record_of(path) == {}, "nor any in the group's record"
    report = xzarrio.verify(path)
    assert report.ok and any("t: no manifest" in note for note in report.unverified)


def test_an_icechunk_repository_is_checked_by_its_checksums(tmp_path: Path) -> None:
    icechunk = pytest.importorskip("icechunk")
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path / "repo")))
    field().zio.to_zarr(repo.writable_session("main"), chunks=CHUNKS)
    report = xzarrio.verify(repo.readonly_session("main"))
    assert report.ok and report.chunks_checked == 4
    assert any("t: an icechunk repository holds zarr's keys only" in n for n in report.unverified)


# ------------------------------------------------------------------ found in review


def test_a_store_in_memory_reads_back_what_was_written_with_checksums() -> None:
    store = zarr.storage.MemoryStore()
    field().zio.to_zarr(store, chunks=CHUNKS)
    np.testing.assert_array_equal(xr.open_zarr(store).t.values, field().t.values)
    field(4, start=8).zio.to_zarr(store, append_dim="time")
    assert xzarrio.verify(store).ok
    plain = zarr.create_array(
        zarr.storage.MemoryStore(), shape=(10,), chunks=(5,), dtype="f8",
        compressors=[{"name": "crc32c"}],
    )  # fmt: skip
    plain[:] = np.arange(10.0)  # plain zarr, with xzarrio's codec selected by the import
    np.testing.assert_array_equal(plain[:], np.arange(10.0))


def test_data_in_either_byte_order_verify_whole(tmp_path: Path) -> None:
    big = xr.Dataset({"v": ("x", np.arange(20, dtype=">f8"))})
    big.zio.to_zarr(tmp_path / "big.zarr", chunks={"x": 10})
    whole(tmp_path / "big.zarr")
    stored_big = {"v": {"serializer": zarr.codecs.BytesCodec(endian="big")}}
    field().rename(t="v").zio.to_zarr(tmp_path / "sbig.zarr", chunks=CHUNKS, encoding=stored_big)
    whole(tmp_path / "sbig.zarr")


def test_lossy_filters_keep_the_digest_of_what_decodes(tmp_path: Path) -> None:
    import numcodecs
    import numcodecs.zarr3

    ds = xr.Dataset({"v": ("x", np.linspace(0, 1, 20))})
    v3 = {"v": {"filters": [numcodecs.zarr3.BitRound(keepbits=4)]}}
    ds.zio.to_zarr(tmp_path / "q3.zarr", chunks={"x": 10}, encoding=v3)
    whole(tmp_path / "q3.zarr")
    v2 = {"v": {"filters": [numcodecs.Quantize(digits=2, dtype="f8")]}}
    ds.zio.to_zarr(tmp_path / "q2.zarr", chunks={"x": 10}, zarr_format=2, encoding=v2)
    whole(tmp_path / "q2.zarr")


def test_a_variable_whose_folder_was_removed_is_named(tmp_path: Path) -> None:
    path = tmp_path / "lost.zarr"
    three = xr.Dataset({name: ("x", np.arange(12.0)) for name in ("u", "v", "w")})
    three.zio.to_zarr(path, chunks={"x": 5})
    shutil.rmtree(path / "w")
    report = xzarrio.verify(path)
    assert [(p.variable, p.kind) for p in report.problems] == [("w", "missing")]
    assert "its folder" in report.problems[0].message
    shutil.rmtree(path / "v" / ".xzarrio")  # a manifest removed: its group recorded it
    assert [(p.variable, p.kind) for p in xzarrio.verify(path).problems] == [
        ("v", "manifest"),
        ("w", "missing"),
    ]


def test_the_variable_digest_is_of_its_chunks_alone() -> None:
    chunks = {"c/0": "a" * 32}
    assert Manifest(chunks, complete=True).digest == Manifest(chunks, complete=False).digest
    assert Manifest(chunks).digest != Manifest({"c/1": "a" * 32}).digest


def test_a_manifest_file_is_canonical_json_and_its_digest_that_of_its_chunks() -> None:
    """The file and the digest are both built from one serialisation of the chunks;
    they stay what canonical JSON of the record gives, so stores written before read."""

    def canonical(record: dict[str, Any]) -> bytes:
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()

    for chunks in ({}, {"c/1/0": "b" * 32, "c/0/0": "a" * 32, 'c/"\u00e9': "c" * 32}):
        for complete in (True, False):
            manifest = Manifest(chunks, complete)
            record = {"algorithm": manifest.algorithm, "complete": complete, "chunks": chunks}
            assert manifest.to_bytes() == canonical(record)
            del record["complete"]
            assert manifest.digest == xxhash.xxh3_128_hexdigest(canonical(record))


def test_a_dataset_rebuilt_from_a_store_in_memory_is_written(tmp_path: Path) -> None:
    store = zarr.storage.MemoryStore()
    field().zio.to_zarr(store, chunks=CHUNKS)
    opened = xzarrio.open_zarr(store)
    rebuilt = xr.Dataset({"t": opened.t.isel(time=0, drop=True)})  # no encoding of its own
    report = rebuilt.zio.to_zarr(tmp_path / "again.zarr")
    assert "source_digests={'t': " in report.provenance.history[0].text


# ------------------------------------------------------------------ cluster (last: the Client)


def test_whole_after_a_write_on_a_cluster_and_verified_there(
    tmp_path: Path, cluster_client: Any
) -> None:
    path = tmp_path / "cluster.zarr"
    field().chunk({"time": 4}).zio.to_zarr(path, chunks=CHUNKS, scheduler=cluster_client)
    manifest = json.loads((path / "t/.xzarrio/manifest.json").read_bytes())
    assert len(manifest["chunks"]) == 3, "the chunks the workers wrote, gathered"
    whole(path, scheduler=cluster_client)
    edit_through_zarr(Place(fsspec.filesystem("file"), str(path), str(path), None))
    report = xzarrio.verify(path, scheduler=cluster_client)
    assert kinds(report) == [("t", "c/0/1/0", "digest")]


def test_digests_of_chunks_written_in_worker_processes_are_gathered(
    tmp_path: Path, process_cluster: Any
) -> None:
    path = tmp_path / "workers.zarr"
    field().chunk({"time": 4}).zio.to_zarr(path, chunks=CHUNKS, scheduler=process_cluster)
    manifest = json.loads((path / "t/.xzarrio/manifest.json").read_bytes())
    assert len(manifest["chunks"]) == 3
    whole(path)


def test_a_store_in_memory_is_verified_on_worker_processes() -> None:
    """Verify only reads: worker processes may read copies of a store in memory."""
    store = zarr.storage.MemoryStore()
    xr.Dataset({"v": ("t", np.arange(10.0))}).zio.to_zarr(store, chunks={"t": 5})
    assert xzarrio.verify(store, scheduler="processes", num_workers=2).ok
