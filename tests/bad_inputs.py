"""The bad-input catalog: every input xzarrio refuses, the error it raises, and what is on disk.

One row per refused input. ``tests/test_bad_inputs.py`` runs each row (``setup``,
then ``call`` inside ``pytest.raises``) and checks that nothing changed on disk;
``docs/bad-inputs.md`` holds the same catalog as a table, regenerated with
``python docs/render_bad_inputs.py`` and kept in sync by a test.

Rows with ``ours=False`` record what happens today where the error is not (yet)
an :class:`xzarrio.errors.XzarrioError`; they are candidates for a clear one.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numcodecs
import numpy as np
import xarray as xr
from zarr.codecs import Crc32cCodec
from zarr.storage import ZipStore

import xzarrio
from xzarrio import errors

__all__ = ["CATALOG", "BadInput", "capture_message", "render_table"]


def _nothing(tmp_path: Path) -> None:
    """The default setup: no store needed."""


@dataclass(frozen=True, kw_only=True)
class BadInput:
    """One refused input: what it is, what it raises, and what is left on disk."""

    id: str  # short slug, the pytest id
    input: str  # a short human description (Markdown)
    error: type[BaseException]  # the exact class raised
    builtin: type[BaseException]  # the builtin a user would catch
    message: str  # a regex the message must match (re.search)
    disk: str  # what is on disk afterwards, in words
    call: Callable[[Path], object]  # performs the bad call (must raise)
    setup: Callable[[Path], None] = _nothing  # writes whatever the call needs first
    ours: bool = True  # whether the error is an xzarrio.errors.XzarrioError

    def run(self, tmp_path: Path) -> None:
        """``setup`` then ``call``: what a user would do, start to finish."""
        self.setup(tmp_path)
        self.call(tmp_path)


# ----------------------------------------------------------------- the objects used


def _ds() -> xr.Dataset:
    """A small valid Dataset on (t, x), with coordinates and an attribute."""
    return xr.Dataset(
        {"v": (("t", "x"), np.arange(12.0).reshape(4, 3), {"units": "K"})},
        coords={"t": np.arange(4), "x": np.arange(3)},
        attrs={"title": "bad-input catalog"},
    )


def _next(ds: xr.Dataset | None = None) -> xr.Dataset:
    """The two steps after *ds* along t: a valid thing to append (before it is spoilt)."""
    ds = _ds() if ds is None else ds
    return ds.isel(t=slice(0, 2)).assign_coords(t=[4, 5])


def _part(start: int, stop: int) -> xr.Dataset:
    """Rows *start*:*stop* of v, without the t coordinate: a region to write."""
    return _ds().isel(t=slice(start, stop)).drop_vars(["t", "x"])


STORE = "s.zarr"


def _store(tmp_path: Path) -> None:
    """A valid store at ``tmp_path/s.zarr``, stored chunks of 2 along t."""
    _ds().zio.to_zarr(tmp_path / STORE, chunks={"t": 2})


def _not_zarr_dir(tmp_path: Path) -> None:
    """A directory holding a file but no zarr metadata."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not zarr\n")


def _regular_file(tmp_path: Path) -> None:
    (tmp_path / "data.zarr").write_text("a file, not a directory\n")


def _with_attr(owner: str, key: object, value: object) -> xr.Dataset:
    ds = _ds()
    target = ds.attrs if owner == "ds" else ds["v"].attrs
    target[key] = value
    return ds


def _multiindex() -> xr.Dataset:
    ds = xr.Dataset(
        {"v": ("i", np.arange(4.0))},
        coords={"a": ("i", [1, 1, 2, 2]), "b": ("i", [1, 2, 1, 2])},
    )
    return ds.set_index(i=["a", "b"])


def _from_gone_store(tmp_path: Path) -> xr.Dataset:
    """An object that says it was read from a store that is no longer there."""
    ds = _ds()
    ds.encoding["source"] = str(tmp_path / "removed.zarr")
    return ds


def _times(start: str, hours: int = 24, n: int = 2) -> xr.Dataset:
    """*n* steps of v from *start*, *hours* apart, on a datetime coordinate ``time``."""
    time = np.datetime64(start, "ns") + np.arange(n) * np.timedelta64(hours, "h")
    return xr.Dataset({"v": ("time", np.arange(float(n)))}, coords={"time": time})


def _cftimes(calendar: str, start: str) -> xr.Dataset:
    """Two daily steps of v from *start*, on cftime dates of *calendar*."""
    time = xr.date_range(start, periods=2, calendar=calendar, use_cftime=True)
    return xr.Dataset({"v": ("time", [1.0, 2.0])}, coords={"time": time})


def _time_store(tmp_path: Path) -> None:
    """A store of daily times, stored as whole days since 2000-01-01 (int64)."""
    _times("2000-01-01").zio.to_zarr(tmp_path / STORE)


def _with_time_encoding(ds: xr.Dataset, **encoding: str) -> xr.Dataset:
    ds = ds.copy()
    ds["time"].encoding.update(encoding)
    return ds


def _strings(*values: str, start: int = 0) -> xr.Dataset:
    """Fixed-width strings along t (numpy ``<U``), as xarray stores them."""
    return xr.Dataset(
        {"s": ("t", np.array(values))}, coords={"t": np.arange(start, start + len(values))}
    )


def _packed_store(tmp_path: Path) -> None:
    """The store of :func:`_store`, v packed as int16 hundredths."""
    packing = {"dtype": "int16", "scale_factor": 0.01, "_FillValue": -32768}
    _ds().zio.to_zarr(tmp_path / STORE, chunks={"t": 2}, encoding={"v": packing})


def _string_store(tmp_path: Path) -> None:
    _strings("abc", "def").zio.to_zarr(tmp_path / STORE)


def _append(tmp_path: Path, ds: xr.Dataset, **kwargs: object) -> None:
    ds.zio.to_zarr(tmp_path / STORE, append_dim="t", **kwargs)


def _region(tmp_path: Path, ds: xr.Dataset, region: object, **kwargs: object) -> None:
    ds.zio.to_zarr(tmp_path / STORE, region=region, mode=kwargs.pop("mode", "r+"), **kwargs)


def _new(tmp_path: Path, ds: xr.Dataset | xr.DataArray | None = None, **kwargs: object) -> None:
    """Write a new store at ``tmp_path/s.zarr`` (none is there)."""
    (_ds() if ds is None else ds).zio.to_zarr(tmp_path / STORE, **kwargs)


# The calls of rows made in a loop: each binds its row's values here (mypy cannot
# type a lambda that binds them as default arguments).


def _new_with_values(value: float, **kwargs: object) -> Callable[[Path], None]:
    """Write a new store whose v reaches *value*, with *kwargs*."""
    return lambda tmp_path: _new(tmp_path, _ds().assign(v=lambda d: d.v / 11 * value), **kwargs)


def _new_strings_with(dtype: str) -> Callable[[Path], None]:
    """Write strings of up to 3 characters with ``encoding={"s": {"dtype": dtype}}``."""
    return lambda tmp_path: _new(tmp_path, _strings("abc", "d"), encoding={"s": {"dtype": dtype}})


def _new_attr(owner: str, key: str, value: object) -> Callable[[Path], None]:
    """Write a new store with attribute *key* = *value* of *owner* (``"ds"`` or ``"v"``)."""
    return lambda tmp_path: _new(tmp_path, _with_attr(owner, key, value))


def _writes_to(store: object) -> Callable[[Path], object]:
    """Write to *store* itself, whatever it is, not into the test's folder."""
    return lambda tmp_path: _ds().zio.to_zarr(store)


def _new_with(**kwargs: object) -> Callable[[Path], None]:
    """Write a new store with *kwargs*."""
    return lambda tmp_path: _new(tmp_path, None, **kwargs)


def _new_named(name: str) -> Callable[[Path], None]:
    """Write a new store of one variable named *name*."""
    return lambda tmp_path: _new(tmp_path, xr.Dataset({name: ("x", np.arange(3.0))}))


def _append_with(**kwargs: object) -> Callable[[Path], None]:
    """Append the next two steps with *kwargs*."""
    return lambda tmp_path: _append(tmp_path, _next(), **kwargs)


def _append_with_fill_attribute(tmp_path: Path) -> None:
    """Append the next two steps, v with a ``_FillValue`` attribute."""
    _append(tmp_path, _next(_with_attr("v", "_FillValue", -1.0)))


def _region_with_fill_attribute(tmp_path: Path) -> None:
    """Write rows 0:2, v with a ``_FillValue`` attribute."""
    part = _part(0, 2)
    part["v"].attrs["_FillValue"] = -1.0
    _region(tmp_path, part, {"t": slice(0, 2)})


def _region_with(region: object, **kwargs: object) -> Callable[[Path], None]:
    """Write rows 0:2 into *region* with *kwargs*."""
    return lambda tmp_path: _region(tmp_path, _part(0, 2), region, **kwargs)


# ----------------------------------------------------------------- the catalog


# ----------------------------------------------------- store objects and an S3 server


def _own_store() -> object:
    """A user's own store class (neither Local, Fsspec nor Memory) holding a store."""
    from .test_stores import OwnStore

    store = OwnStore()
    _ds().zio.to_zarr(store, chunks={"t": 2})
    return store


#: the catalogue's S3 server, started by the first row that needs it (stopped at exit)
_SERVER: list[tuple[object, object, str]] = []
_BUCKET = "catalogue"
_READ_ONLY_BUCKET = "catalogue-read-only"


#: icechunk sessions made by a row's setup for its call, by the row's folder
_SESSIONS: dict[Path, object] = {}


def _late_session(tmp_path: Path) -> None:
    """A session of a repository in memory whose branch another writer moved on since."""
    import icechunk

    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    _ds().zio.to_zarr(repo.writable_session("main"))
    _SESSIONS[tmp_path] = repo.writable_session("main")
    _next().zio.to_zarr(repo.writable_session("main"), append_dim="t")


def _s3_options() -> dict[str, object]:
    """The storage options of the catalogue's S3 server: a moto server behind a proxy
    that refuses every PUT into the bucket ``catalogue-read-only``."""
    from .s3server import MotoServer, RefusingProxy, make_bucket, storage_options

    if not _SERVER:
        server = MotoServer().start()
        proxy = RefusingProxy(server.endpoint).start()
        for bucket in (_BUCKET, _READ_ONLY_BUCKET):
            make_bucket(server.endpoint, bucket)
        proxy.refuse_puts(lambda path: path.startswith(f"/{_READ_ONLY_BUCKET}/"))
        _SERVER.append((server, proxy, proxy.endpoint))
    return dict(storage_options(_SERVER[0][2]))


def _read_only_s3_store(tmp_path: Path) -> None:
    """A store in the bucket that takes no writes, put there past the proxy that refuses
    them (as its owner, who may write, would have)."""
    from .s3server import MotoServer, storage_options

    _s3_options()  # the server, started once
    server = _SERVER[0][0]
    assert isinstance(server, MotoServer)
    options = storage_options(server.endpoint)
    _ds().zio.to_zarr(f"s3://{_READ_ONLY_BUCKET}/there.zarr", storage_options=options, mode="w")


NOTHING = "nothing created"
UNCHANGED = "store unchanged"
NO_DISK = "nothing on disk; options unchanged"

CATALOG: list[BadInput] = [
    # ------------------------------------------------------------ missing stores
    BadInput(
        id="open-missing",
        input="`xzarrio.open_zarr` of a path that does not exist",
        error=errors.StoreNotFoundError,
        builtin=FileNotFoundError,
        message=r"no zarr store at '.*nope\.zarr': the path does not exist",
        disk=NOTHING,
        call=lambda tmp: xzarrio.open_zarr(tmp / "nope.zarr"),
    ),
    BadInput(
        id="info-missing",
        input="`xzarrio.info` of a path that does not exist",
        error=errors.StoreNotFoundError,
        builtin=FileNotFoundError,
        message=r"no zarr store at '.*nope\.zarr': the path does not exist",
        disk=NOTHING,
        call=lambda tmp: xzarrio.info(tmp / "nope.zarr"),
    ),
    BadInput(
        id="region-missing",
        input="region write (`mode='r+'`) to a store that does not exist",
        error=errors.StoreNotFoundError,
        builtin=FileNotFoundError,
        message=r"no zarr store at '.*nope\.zarr': the path does not exist",
        disk=NOTHING,
        call=lambda tmp: _part(0, 2).zio.to_zarr(
            tmp / "nope.zarr", region={"t": slice(0, 2)}, mode="r+"
        ),
    ),
    BadInput(
        id="reopen-removed-store",
        input="`.zio.reopen()` of an object whose store was removed",
        error=errors.StoreNotFoundError,
        builtin=FileNotFoundError,
        message=r"no zarr store at '.*removed\.zarr': the path does not exist",
        disk=NOTHING,
        call=lambda tmp: _from_gone_store(tmp).zio.reopen(),
    ),
    BadInput(
        id="open-missing-group",
        input="`open_zarr(group='g')` of a store without that group",
        error=errors.StoreNotFoundError,
        builtin=FileNotFoundError,
        message=r"no group 'g' in the zarr store",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: xzarrio.open_zarr(tmp / STORE, group="g"),
    ),
    # ------------------------------------------------------------ not a zarr store
    BadInput(
        id="open-not-zarr-dir",
        input="`open_zarr` of a directory that holds no zarr store",
        error=errors.NotAZarrStoreError,
        builtin=ValueError,
        message=r"'.*notes' is not a zarr store: none of \['zarr\.json', '\.zgroup'",
        disk="directory unchanged",
        setup=_not_zarr_dir,
        call=lambda tmp: xzarrio.open_zarr(tmp / "notes"),
    ),
    BadInput(
        id="info-not-zarr-dir",
        input="`xzarrio.info` of a directory that holds no zarr store",
        error=errors.NotAZarrStoreError,
        builtin=ValueError,
        message=r"'.*notes' is not a zarr store: none of",
        disk="directory unchanged",
        setup=_not_zarr_dir,
        call=lambda tmp: xzarrio.info(tmp / "notes"),
    ),
    BadInput(
        id="append-not-zarr-dir",
        input="append to a directory that holds no zarr store",
        error=errors.NotAZarrStoreError,
        builtin=ValueError,
        message=r"'.*notes' is not a zarr store: none of",
        disk="directory unchanged",
        setup=_not_zarr_dir,
        call=lambda tmp: _ds().zio.to_zarr(tmp / "notes", append_dim="t"),
    ),
    BadInput(
        id="write-w-over-not-zarr-dir",
        input="`mode='w'` over a non-empty directory that holds no zarr store",
        error=errors.NotAZarrStoreError,
        builtin=ValueError,
        message=r"is a directory that holds no zarr store; refusing to replace it with mode='w'",
        disk="directory unchanged",
        setup=_not_zarr_dir,
        call=lambda tmp: _ds().zio.to_zarr(tmp / "notes", mode="w"),
    ),
    BadInput(
        id="open-regular-file",
        input="`open_zarr` of a regular file",
        error=errors.NotAZarrStoreError,
        builtin=ValueError,
        message=r"is not a zarr store: it is a file, and a local zarr store is a directory",
        disk="file unchanged",
        setup=_regular_file,
        call=lambda tmp: xzarrio.open_zarr(tmp / "data.zarr"),
    ),
    BadInput(
        id="info-regular-file",
        input="`xzarrio.info` of a regular file",
        error=errors.NotAZarrStoreError,
        builtin=ValueError,
        message=r"is not a zarr store: it is a file",
        disk="file unchanged",
        setup=_regular_file,
        call=lambda tmp: xzarrio.info(tmp / "data.zarr"),
    ),
    BadInput(
        id="write-w-over-regular-file",
        input="`mode='w'` write over a regular file",
        error=errors.NotAZarrStoreError,
        builtin=ValueError,
        message=r"'.*data\.zarr' is a file, not a zarr store; refusing to write over it",
        disk="file unchanged",
        setup=_regular_file,
        call=lambda tmp: _ds().zio.to_zarr(tmp / "data.zarr", mode="w"),
    ),
    BadInput(
        id="write-under-regular-file",
        input="new store at a path whose parent is a regular file (`file/s.zarr`)",
        error=errors.NotAZarrStoreError,
        builtin=ValueError,
        message=r"cannot create a store at '.*data\.zarr/.*': '.*data\.zarr' is a file, not a folder",
        disk="file unchanged",
        setup=_regular_file,
        call=lambda tmp: _ds().zio.to_zarr(tmp / "data.zarr" / STORE),
    ),
    BadInput(
        id="write-w-minus-over-non-zarr-directory",
        input="default `mode='w-'` write into a non-empty directory that is not zarr",
        error=errors.NotAZarrStoreError,
        builtin=ValueError,
        message=r"'.*notes' is a directory that holds no zarr store; refusing to write into it",
        disk="directory unchanged",
        setup=_not_zarr_dir,
        call=lambda tmp: _ds().zio.to_zarr(tmp / "notes"),
    ),
    BadInput(
        id="write-unwritable-location",
        input="new store where even root cannot write (`/proc/xzarrio-test.zarr`)",
        error=errors.StoreNotWritableError,
        builtin=PermissionError,
        message=r"cannot create a store at '/proc/xzarrio-test\.zarr': its folder '/proc' "
        r"does not take new entries",
        disk="nothing created",
        call=lambda tmp: _ds().zio.to_zarr("/proc/xzarrio-test.zarr"),
    ),
    BadInput(
        id="write-existing-store",
        input="`mode='w-'` (the default) where a store exists",
        error=errors.StoreExistsError,
        builtin=FileExistsError,
        message=r"a store already exists at '.*s\.zarr'; use mode='w' to replace it",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _ds().zio.to_zarr(tmp / STORE, mode="w-"),
    ),
    # ------------------------------------------------------------ what is no store
    *[
        BadInput(
            id=f"store-{slug}",
            input=f"`store={store!r}`" + note,
            error=errors.ArgumentTypeError,
            builtin=TypeError,
            message=re.escape(f"store={store!r} is not understood; expected a path"),
            disk=NOTHING,
            call=_writes_to(store),
        )
        for slug, store, note in [
            ("int", 123, " (xarray: `TypeError`)"),
            ("none", None, " (xarray writes to memory and returns the store)"),
            ("bytes", b"s.zarr", " (xarray: `TypeError`)"),
        ]
    ],
    BadInput(
        id="store-empty-string",
        input="`store=''` (which would name the working directory)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"store='' names no store; expected a path",
        disk=NOTHING,
        call=lambda tmp: _ds().zio.to_zarr(""),
    ),
    BadInput(
        id="store-unknown-protocol",
        input="`store='foo://bucket/s.zarr'`, a protocol fsspec does not know",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"store='foo://bucket/s\.zarr': fsspec does not know the protocol 'foo'",
        disk=NOTHING,
        call=lambda tmp: _ds().zio.to_zarr("foo://bucket/s.zarr"),
    ),
    BadInput(
        id="storage-options-for-a-path",
        input="`storage_options=` with a local path (xarray: `TypeError`)",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"storage_options=\{'anon': True\} is only used with a URL such as",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, storage_options={"anon": True}),
    ),
    BadInput(
        id="storage-options-not-a-dict",
        input="`storage_options=5` with a URL",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"storage_options must be a dict of fsspec options, got 5",
        disk=NOTHING,
        call=lambda tmp: _ds().zio.to_zarr("memory://s.zarr", storage_options=5),
    ),
    # ------------------------------------------------------------ write arguments
    BadInput(
        id="unknown-mode",
        input="`mode='x'`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"unknown mode 'x'; expected one of \['w-', 'w', 'a', 'a-', 'r\+'\]",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, mode="x"),
    ),
    BadInput(
        id="bad-zarr-format",
        input="`zarr_format=4`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"zarr_format must be 2, 3 or None, got 4",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, zarr_format=4),
    ),
    BadInput(
        id="append-other-zarr-format",
        input="append with `zarr_format=2` to a format 3 store",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"zarr_format=2 but the store is zarr format 3",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next(), zarr_format=2),
    ),
    BadInput(
        id="unknown-compressor",
        input="`compressor='brotli'`",
        error=errors.UnknownCompressorError,
        builtin=ValueError,
        message=r"unknown compressor 'brotli'; expected one of \['default', 'blosc-zstd', 'blosc-zstd-bit'",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, compressor="brotli"),
    ),
    BadInput(
        id="keepbits-of-integers",
        input="`keepbits={'t': 3}`: the integer coordinate `t`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"keepbits rounds floating-point variables; 't' is int64",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, keepbits={"t": 3}),
    ),
    BadInput(
        id="keepbits-of-packed-floats",
        input="`keepbits=` of a float variable stored as int16 (`scale_factor`)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"keepbits rounds floating-point variables; 'v' is float64 stored as int16",
        disk=NOTHING,
        call=lambda tmp: _new(
            tmp, keepbits=4, encoding={"v": {"dtype": "int16", "scale_factor": 0.1}}
        ),
    ),
    BadInput(
        id="keepbits-of-an-index",
        input="`keepbits={'x': 3}` where `x` is a float index coordinate",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"keepbits would round the coordinate 'x', an index",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _ds().assign_coords(x=[0.5, 1.5, 2.5]), keepbits={"x": 3}),
    ),
    BadInput(
        id="keepbits-beyond-the-mantissa",
        input="`keepbits=53` of float64 (52 mantissa bits)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"keepbits for 'v' must be an integer from 1 to 52 \(its mantissa bits",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, keepbits=53),
    ),
    BadInput(
        id="keepbits-zero",
        input="`keepbits=0` (CF 1.12 keeps at least one bit)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"keepbits for 'v' must be an integer from 1 to 52 .*CF 1.12",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, keepbits=0),
    ),
    BadInput(
        id="keepbits-not-a-number",
        input="`keepbits='7'` (a string)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"keepbits must be an int .*, a dict \{name: int\} or 'auto', got '7'",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, keepbits="7"),
    ),
    BadInput(
        id="keepbits-of-no-float",
        input="`keepbits=7` of a Dataset with no floating-point data variable",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"keepbits=7 rounds the floating-point data variables a write adds",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _ds().astype("i8"), keepbits=7),
    ),
    BadInput(
        id="information-out-of-range",
        input="`keepbits='auto', information=1.5`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"information must be the share of the real information to keep",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, keepbits="auto", information=1.5),
    ),
    BadInput(
        id="auto-compressor-in-encoding",
        input="`encoding={'v': {'compressor': 'auto'}}` (auto chooses per write)",
        error=errors.UnknownCompressorError,
        builtin=ValueError,
        message=r"compressor 'auto' is chosen per variable by a write",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"v": {"compressor": "auto"}}),
    ),
    BadInput(
        id="compressor-not-codec",
        input="`compressor=42` (not a name, not a codec)",
        error=errors.CodecFormatError,
        builtin=TypeError,
        message=r"compressor must be a name \(.*\) or a zarr/numcodecs codec object, got 42 of type int",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, compressor=42),
    ),
    BadInput(
        id="codec-not-for-format-3",
        input="`numcodecs.Base64()` (zarr 3 has no codec of it) as compressor of a format 3 store",
        error=errors.CodecFormatError,
        builtin=TypeError,
        message=r"codec Base64\(\) cannot compress zarr format 3 chunks",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, compressor=numcodecs.Base64(), zarr_format=3),
    ),
    *[
        BadInput(
            id=f"compressor-is-a-filter-{slug}",
            input=f"`compressor={codec!r}` (a filter) of a format {fmt} store" + note,
            error=errors.CodecFormatError,
            builtin=TypeError,
            message=re.escape(f"codec {codec!r} is a filter, not a compressor"),
            disk=NOTHING,
            call=_new_with(compressor=codec, zarr_format=fmt),
        )
        for slug, codec, fmt, note in [
            ("delta", numcodecs.Delta(dtype="f8"), 2, " (stored as if it compressed)"),
            ("quantize", numcodecs.Quantize(digits=2, dtype="f8"), 2, " (lossy, said lossless)"),
            ("bitround", numcodecs.BitRound(keepbits=3), 2, " (numcodecs' `TypeError`)"),
            ("delta-format-3", numcodecs.Delta(dtype="f8"), 3, " (xarray: `TypeError`)"),
        ]
    ],
    BadInput(
        id="codec-not-for-format-2",
        input="`zarr.codecs.Crc32cCodec()` as compressor of a format 2 store",
        error=errors.CodecFormatError,
        builtin=TypeError,
        message=r"codec Crc32cCodec\(\) has no zarr format 2 equivalent",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, compressor=Crc32cCodec(), zarr_format=2),
    ),
    BadInput(
        id="chunks-unknown-dim",
        input="`chunks={'z': 2}`, a dimension the object lacks",
        error=errors.InvalidChunksError,
        builtin=ValueError,
        message=r"chunks names dimension 'z', which the object does not have",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, chunks={"z": 2}),
    ),
    BadInput(
        id="chunks-zero",
        input="`chunks={'t': 0}`",
        error=errors.InvalidChunksError,
        builtin=ValueError,
        message=r"chunk size for dimension 't' must be an integer >= 1, -1 .*, got 0",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, chunks={"t": 0}),
    ),
    BadInput(
        id="chunks-negative",
        input="`chunks={'t': -2}` (-1 means the whole dimension)",
        error=errors.InvalidChunksError,
        builtin=ValueError,
        message=r"chunk size for dimension 't' must be an integer >= 1, -1 \(the whole "
        r"dimension\) or None \(its current chunks\), got -2",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, chunks={"t": -2}),
    ),
    BadInput(
        id="chunks-float",
        input="`chunks={'t': 1.5}`",
        error=errors.InvalidChunksError,
        builtin=ValueError,
        message=r"chunk size for dimension 't' must be an integer >= 1, -1 .*, got 1\.5",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, chunks={"t": 1.5}),
    ),
    BadInput(
        id="chunks-not-a-dict",
        input="`chunks=[2]`",
        error=errors.InvalidChunksError,
        builtin=ValueError,
        message=r"chunks=\[2\] is not understood; expected None",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, chunks=[2]),
    ),
    BadInput(
        id="num-workers-zero",
        input="`num_workers=0`",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"num_workers must be an integer >= 1 or None, got 0",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, num_workers=0),
    ),
    BadInput(
        id="num-workers-float",
        input="`num_workers=1.5`",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"num_workers must be an integer >= 1 or None, got 1\.5",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, num_workers=1.5),
    ),
    BadInput(
        id="unknown-scheduler",
        input="`scheduler='gpu'`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"unknown scheduler 'gpu'; expected one of \['threads', 'synchronous', 'processes'\]",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, scheduler="gpu"),
    ),
    BadInput(
        id="scheduler-not-understood",
        input="`scheduler=3`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"scheduler=3 is not understood",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, scheduler=3),
    ),
    *[
        BadInput(
            id=f"{keyword.replace('_', '-')}-not-a-bool",
            input=f"`{keyword}='no'` (a string, which would read as True)",
            error=errors.ArgumentTypeError,
            builtin=TypeError,
            message=rf"{keyword} takes True or False, got 'no'",
            disk=NOTHING,
            call=_new_with(**{keyword: "no"}),
        )
        for keyword in ["progress", "consolidated", "write_empty_chunks", "compute"]
    ],
    BadInput(
        id="verify-quick-not-a-bool",
        input="`xzarrio.verify(store, quick='no')` (a string, which would read as True)",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"quick takes True or False, got 'no'",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: xzarrio.verify(tmp / STORE, quick="no"),  # type: ignore[arg-type]
    ),
    BadInput(
        id="chunkmanager-store-kwargs-not-a-dict",
        input="`chunkmanager_store_kwargs=5`",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"chunkmanager_store_kwargs must be a dict of keywords for dask\.array\.store, "
        r"got 5",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, chunkmanager_store_kwargs=5),
    ),
    BadInput(
        id="deferred-write-refused-at-once",
        input="`compute=False` with `compressor='brotli'`: refused at the call, not at `.compute()`",
        error=errors.UnknownCompressorError,
        builtin=ValueError,
        message=r"unknown compressor 'brotli'",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, compressor="brotli", compute=False),
    ),
    # ------------------------------------------------------------ attributes
    BadInput(
        id="attr-datetime",
        input="a `datetime.datetime` Dataset attribute",
        error=errors.InvalidAttributeError,
        builtin=TypeError,
        message=r"attribute 'when' of the Dataset is datetime\.datetime\(2020, 1, 1, 0, 0\) "
        r"of type datetime, which cannot be stored as JSON",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _with_attr("ds", "when", dt.datetime(2020, 1, 1))),
    ),
    *[
        BadInput(
            id=f"attr-{slug}",
            input=f"a `{value!r}` attribute of {owner}" + note,
            error=errors.InvalidAttributeError,
            builtin=TypeError,
            message=rf"attribute 'when' of {owner} is {re.escape(repr(value))} of type "
            rf"{type(value).__name__}, which cannot be stored as JSON",
            disk=NOTHING,
            call=_new_attr(key, "when", value),
        )
        for slug, owner, key, value, note in [
            (
                "datetime64",
                "the Dataset",
                "ds",
                np.datetime64("2020-01-01", "ns"),
                " (xarray stores it as an integer of nanoseconds)",
            ),
            ("datetime64-day", "variable 'v'", "v", np.datetime64("2020-01-01", "D"), ""),
            ("timedelta64", "variable 'v'", "v", np.timedelta64(6, "h"), ""),
            ("datetime64-array", "the Dataset", "ds", np.array(["2020-01-01"], "M8[s]"), ""),
        ]
    ],
    BadInput(
        id="attr-nan",
        input="a NaN Dataset attribute",
        error=errors.InvalidAttributeError,
        builtin=ValueError,
        message=r"attribute 'missing' of the Dataset is nan: zarr attributes are JSON, "
        r"which has no NaN or infinity",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _with_attr("ds", "missing", float("nan"))),
    ),
    BadInput(
        id="attr-inf",
        input="an infinite variable attribute (`np.inf`)",
        error=errors.InvalidAttributeError,
        builtin=ValueError,
        message=r"attribute 'valid_max' of variable 'v' is inf: zarr attributes are JSON",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _with_attr("v", "valid_max", np.inf)),
    ),
    BadInput(
        id="attr-nan-in-array",
        input="a numpy array attribute holding a NaN",
        error=errors.InvalidAttributeError,
        builtin=ValueError,
        message=r"attribute 'range' of the Dataset is array\(\[ ?1\., +nan\]\): "
        r"zarr attributes are JSON",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _with_attr("ds", "range", np.array([1.0, np.nan]))),
    ),
    BadInput(
        id="attr-name-not-str",
        input="an attribute whose name is not a string (`attrs[1]`)",
        error=errors.InvalidAttributeError,
        builtin=TypeError,
        message=r"attribute names must be strings; the Dataset has attribute 1 of type int",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _with_attr("ds", 1, "one")),
    ),
    # ------------------------------------------------------------ the data itself
    BadInput(
        id="unnamed-dataarray",
        input="an unnamed DataArray",
        error=errors.UnnamedDataArrayError,
        builtin=ValueError,
        message=r"cannot write an unnamed DataArray: zarr stores variables by name",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, xr.DataArray(np.arange(3.0), dims="x")),
    ),
    BadInput(
        id="variable-name-not-str",
        input="a variable whose name is not a string (`{1: ...}`)",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"variable and dimension names must be strings to be stored in zarr, "
        r"got 1 of type int",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, xr.Dataset({1: ("x", np.arange(3.0))})),
    ),
    BadInput(
        id="dim-name-not-str",
        input="a dimension whose name is not a string",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"variable and dimension names must be strings.*got 1 of type int",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, xr.Dataset({"v": ((1,), np.arange(3.0))})),
    ),
    BadInput(
        id="dataarray-name-int",
        input="a DataArray named `0` (xarray: `TypeError`)",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"names must be strings to be stored in zarr, got 0 of type int",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _ds().v.rename(0)),
    ),
    BadInput(
        id="dataarray-name-tuple",
        input="a DataArray named `(4, 5)`",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"names must be strings to be stored in zarr, got \(4, 5\) of type tuple",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _ds().v.rename((4, 5))),
    ),
    BadInput(
        id="dataarray-named-like-its-coordinate",
        input="a DataArray named like one of its coordinates (xarray stores it under another name)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"cannot write a DataArray named 'x' like one of its coordinates: zarr stores "
        r"one array per name.*rename it first, e\.g\. da\.rename\('x_values'\)",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _ds().v.isel(t=0).rename("x")),
    ),
    *[
        BadInput(
            id=f"variable-name-{slug}",
            input=f"a variable named `{name!r}`" + note,
            error=errors.InvalidArgumentError,
            builtin=ValueError,
            message=re.escape(f"the name {name!r} cannot be stored in zarr: a variable or "),
            disk=NOTHING,
            call=_new_named(name),
        )
        for slug, name, note in [
            ("empty", "", " (xarray: `ValueError`)"),
            ("dot", ".", ""),
            ("dot-dot", "..", ""),
            ("slash", "a/b", " (it would vanish into a group `a`)"),
            ("backslash", "a\\b", " (zarr reads `\\` as `/`: it would vanish into a group `a`)"),
            ("zarr-json", "zarr.json", " (the group's own metadata key)"),
            ("zattrs", ".zattrs", " (a zarr format 2 metadata key)"),
        ]
    ],
    BadInput(
        id="dim-name-slash",
        input="a dimension named `'a/b'`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"the name 'a/b' cannot be stored in zarr",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, xr.Dataset({"v": ("a/b", np.arange(3.0))})),
    ),
    BadInput(
        id="multiindex",
        input="a MultiIndex coordinate (from `set_index(i=['a', 'b'])`; xarray: "
        "`NotImplementedError`)",
        error=errors.NotStorableError,
        builtin=NotImplementedError,
        message=r"coordinate 'i' is a pandas MultiIndex, which zarr cannot store; "
        r"reset it first: ds\.reset_index\('i'\)",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _multiindex()),
    ),
    BadInput(
        id="mixed-object-array",
        input="an object array of mixed types (`np.array([1, 'a', None], dtype=object)`)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"variable 'v' holds Python objects of mixed types \(int, str, NoneType\)",
        disk=NOTHING,
        call=lambda tmp: _new(
            tmp, xr.Dataset({"v": ("x", np.array([1, "a", None], dtype=object))})
        ),
    ),
    BadInput(
        id="mixed-object-dask-array",
        input="a dask array of objects of mixed types (xarray: `ValueError` once it has "
        "loaded it, while it writes)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"variable 'v' holds Python objects of mixed types \(str, int\)",
        disk=NOTHING,
        call=lambda tmp: _new(
            tmp, xr.Dataset({"v": ("x", np.array(["a", 1, "b"], dtype=object))}).chunk(x=2)
        ),
    ),
    BadInput(
        id="history-not-a-string",
        input="`history=5` (not a string)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"history must be a string \(your note for the history line\), got 5",
        disk=NOTHING,
        call=lambda tmp: _ds().zio.to_zarr(tmp / STORE, history=5),
    ),
    # ------------------------------------------------------------ appends
    BadInput(
        id="append-other-dims",
        input="append a variable on other dimensions (`x` renamed `y`)",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append variable 'v': its dimensions \('t', 'y'\) differ from "
        r"the store's \('t', 'x'\)",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next().rename({"x": "y"})),
    ),
    BadInput(
        id="append-other-dtype",
        input="append with a different dtype (`int32` onto `float64`)",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append variable 'v': its dtype int32 differs from the store's float64",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next().assign(v=lambda d: d.v.astype("i4"))),
    ),
    BadInput(
        id="append-other-sizes",
        input="append with another size along a non-append dimension",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append variable 'v': dimension 'x' has size 2, the store's has 3",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next().isel(x=slice(0, 2))),
    ),
    BadInput(
        id="append-dim-not-in-data",
        input="`append_dim='z'`, a dimension the data lacks",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append along 'z': the data has no such dimension",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _next().zio.to_zarr(tmp / STORE, append_dim="z"),
    ),
    BadInput(
        id="append-dim-not-in-store",
        input="`append_dim='z'`, a dimension the data has and the store lacks",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append along 'z': the store has no such dimension",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _next().expand_dims("z").zio.to_zarr(tmp / STORE, append_dim="z"),
    ),
    BadInput(
        id="append-new-variable",
        input="append a variable the store does not have",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"variable 'w' is not in the store; an append extends the store's variables",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next().assign(w=lambda d: d.v * 2)),
    ),
    BadInput(
        id="append-leaves-variable-out",
        input="append without a variable that runs along the append dimension",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"the store's variables \['v'\] run along 't' but are missing from the data",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, xr.Dataset(coords={"t": [4, 5]})),
    ),
    BadInput(
        id="append-other-coordinate-values",
        input="append with other values of a coordinate that is not appended (`x`)",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append: coordinate 'x' differs from the store's",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next().assign_coords(x=[10, 11, 12])),
    ),
    BadInput(
        id="append-other-units",
        input="append a variable whose `units` attribute differs from the store's (`C` onto `K`)",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append variable 'v': its units 'C' differ from the store's 'K'",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next().assign(v=lambda d: d.v.assign_attrs(units="C"))),
    ),
    BadInput(
        id="append-duplicate-values",
        input="append with repeated values of the append dimension (`t=[4, 4]`)",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append along 't': the data repeats the values \[4\]",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next().assign_coords(t=[4, 4])),
    ),
    BadInput(
        id="append-values-already-stored",
        input="append values of the append dimension that the store has (`t=[3, 4]`)",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append along 't': the store already holds the values \[3\]",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next().assign_coords(t=[3, 4])),
    ),
    BadInput(
        id="append-time-calendar-differs",
        input="append times whose `calendar` encoding differs from the store's",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append variable 'time': its encoding says calendar 'noleap' but the "
        r"store's is 'proleptic_gregorian'",
        disk=UNCHANGED,
        setup=_time_store,
        call=lambda tmp: _with_time_encoding(_times("2000-01-03"), calendar="noleap").zio.to_zarr(
            tmp / STORE, append_dim="time"
        ),
    ),
    BadInput(
        id="append-julian-onto-noleap",
        input="append `julian` cftime dates onto a `noleap` time axis (xarray reads them "
        "back as `noleap` dates)",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append variable 'time': its dates are in calendar 'julian' but the "
        r"store's are in 'noleap'",
        disk=UNCHANGED,
        setup=lambda tmp: _cftimes("noleap", "2001-02-27").zio.to_zarr(tmp / STORE),
        call=lambda tmp: _cftimes("julian", "2001-03-01").zio.to_zarr(
            tmp / STORE, append_dim="time"
        ),
    ),
    BadInput(
        id="append-times-finer-than-stored",
        input="append times at 06:00 to a store of whole days (xarray writes hours as days)",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append variable 'time': the store holds whole 'days since 2000-01-01",
        disk=UNCHANGED,
        setup=_time_store,
        call=lambda tmp: _times("2000-01-03T06").zio.to_zarr(tmp / STORE, append_dim="time"),
    ),
    BadInput(
        id="append-times-beyond-stored-dtype",
        input="append times a year on to a store of whole days as `int8` (xarray wraps them "
        "into March)",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append variable 'time': the store holds 'days since 2000-01-01' as "
        r"int8, from -128 to 127, and the appended times are 366 to 367 of them",
        disk=UNCHANGED,
        setup=lambda tmp: _times("2000-01-01").zio.to_zarr(
            tmp / STORE, encoding={"time": {"dtype": "int8", "units": "days since 2000-01-01"}}
        ),
        call=lambda tmp: _times("2001-01-01").zio.to_zarr(tmp / STORE, append_dim="time"),
    ),
    BadInput(
        id="append-beyond-packed-dtype",
        input="append values beyond the store's packing (`int16` with `scale_factor=0.01`; "
        "xarray wraps them around)",
        error=errors.OutOfRangeError,
        builtin=ValueError,
        message=r"variable 'v' holds packed values from 40000 to 50000, outside int16 "
        r"\(-32768 to 32767\), which would wrap around; the store's encoding cannot change",
        disk=UNCHANGED,
        setup=_packed_store,
        call=lambda tmp: _append(tmp, _next().assign(v=lambda d: d.v * 0 + [[400], [500]])),
    ),
    BadInput(
        id="append-wider-strings",
        input="append strings wider than the store's fixed-width strings (`<U6` onto `<U3`)",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append variable 's': the store holds strings of at most 3 characters",
        disk=UNCHANGED,
        setup=_string_store,
        call=lambda tmp: _strings("abcdef", "g", start=2).zio.to_zarr(tmp / STORE, append_dim="t"),
    ),
    BadInput(
        id="append-wider-object-strings",
        input="append Python strings (object dtype) wider than the store's fixed width",
        error=errors.AppendMismatchError,
        builtin=ValueError,
        message=r"cannot append variable 's': the store holds strings of at most 3 characters",
        disk=UNCHANGED,
        setup=_string_store,
        call=lambda tmp: (
            _strings("abcdef", "g", start=2).astype(object).zio.to_zarr(tmp / STORE, append_dim="t")
        ),
    ),
    *[
        BadInput(
            id=f"append-with-{keyword}",
            input=f"append with `{keyword}=` (the store's are kept)",
            error=errors.InvalidArgumentError,
            builtin=ValueError,
            message=rf"{keyword}=.* cannot change an existing store's {what}",
            disk=UNCHANGED,
            setup=_store,
            call=_append_with(**{keyword: value}),
        )
        for keyword, value, what in [
            ("chunks", {"t": 1}, "chunks"),
            ("compressor", "lz4", "codecs"),
            ("keepbits", 7, "kept bits"),
        ]
    ],
    *[
        BadInput(
            id=f"region-with-{keyword}",
            input=f"region write with `{keyword}=` (the store's are kept)",
            error=errors.InvalidArgumentError,
            builtin=ValueError,
            message=rf"{keyword}=.* cannot change an existing store's {what}",
            disk=UNCHANGED,
            setup=_store,
            call=_region_with({"t": slice(0, 2)}, **{keyword: value}),
        )
        for keyword, value, what in [
            ("chunks", {"t": 1}, "chunks"),
            ("compressor", "lz4", "codecs"),
            ("keepbits", 7, "kept bits"),
        ]
    ],
    BadInput(
        id="append-dim-a-list",
        input="`append_dim=['t']` (a list; xarray: `TypeError`)",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"append_dim must be a dimension name, got \['t'\]",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _next().zio.to_zarr(tmp / STORE, append_dim=["t"]),
    ),
    BadInput(
        id="append-with-mode-w",
        input="`append_dim` with `mode='w'`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"append_dim needs mode='a' or 'a-', got mode='w'",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next(), mode="w"),
    ),
    *[
        BadInput(
            id=f"{slug}-fill-value-attribute",
            input=f"{what} data whose variable has a `_FillValue` attribute (xarray: "
            "`ValueError` while it writes)",
            error=errors.InvalidArgumentError,
            builtin=ValueError,
            message=r"variable 'v' has _FillValue -1\.0 in its attributes, but the store "
            r"already holds 'v' with the fill value it keeps; drop the attribute first",
            disk=UNCHANGED,
            setup=_store,
            call=call,
        )
        for slug, what, call in [
            ("append", "append", _append_with_fill_attribute),
            ("region", "a region write of", _region_with_fill_attribute),
        ]
    ],
    BadInput(
        id="append-new-encoding",
        input="append with an `encoding=` for a variable the store has",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"variable 'v' already exists in the store; its encoding cannot change",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _append(tmp, _next(), encoding={"v": {"chunks": (1, 1)}}),
    ),
    # ------------------------------------------------------------ region writes
    BadInput(
        id="region-out-of-bounds",
        input="`region={'t': slice(10, 12)}` on a store of 4 steps",
        error=errors.RegionError,
        builtin=ValueError,
        message=r"region\['t'\] = slice\(10, 12, None\) is outside the store's dimension of size 4",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _part(0, 2), {"t": slice(10, 12)}),
    ),
    BadInput(
        id="region-unknown-dim",
        input="`region={'z': slice(0, 1)}`, a dimension the store lacks",
        error=errors.RegionError,
        builtin=ValueError,
        message=r"region names dimension 'z', which the store does not have",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _part(0, 2), {"z": slice(0, 1)}),
    ),
    BadInput(
        id="region-and-append",
        input="`region=` together with `append_dim=` (a `KeyError` too, as in xarray)",
        error=errors.RegionKeyError,
        builtin=KeyError,
        message=r"append_dim and region cannot be used together",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _part(0, 2).zio.to_zarr(
            tmp / STORE, region={"t": slice(0, 2)}, append_dim="t"
        ),
    ),
    BadInput(
        id="region-size-mismatch",
        input="a region of 3 steps for data of 2",
        error=errors.RegionError,
        builtin=ValueError,
        message=r"region\['t'\] = slice\(0, 3, None\) covers 3 elements but the data has 2",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _part(0, 2), {"t": slice(0, 3)}, allow_partial_chunks=True),
    ),
    BadInput(
        id="region-step",
        input="`region={'t': slice(0, 4, 2)}` (a step)",
        error=errors.RegionError,
        builtin=ValueError,
        message=r"region\['t'\] must be a slice with step 1 or 'auto'",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _part(0, 2), {"t": slice(0, 4, 2)}),
    ),
    BadInput(
        id="region-not-a-dict",
        input="`region=[1]` (xarray: `TypeError`)",
        error=errors.RegionTypeError,
        builtin=TypeError,
        message=r"region must be 'auto' or a dict \{dim: slice\}, got \[1\]",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _part(0, 2), [1]),
    ),
    *[
        BadInput(
            id=f"region-{slug}",
            input=f"`region={{'t': {where!r}}}`" + note,
            error=errors.RegionTypeError,
            builtin=TypeError,
            message=r"region\['t'\] must be a slice of integer positions \(or 'auto'\), got "
            + re.escape(repr(where)),
            disk=UNCHANGED,
            setup=_store,
            call=_region_with({"t": where}),
        )
        for slug, where, note in [
            ("not-a-slice", 1, " (xarray: `TypeError`)"),
            ("list", [0, 1], ""),
            ("float-slice", slice(0.0, 2.0), " (positions, not floats)"),
            ("label-slice", slice("a", "b"), " (positions, not labels)"),
            ("numpy-float-slice", slice(np.float64(0), np.float64(2)), ""),
        ]
    ],
    BadInput(
        id="region-auto-values-not-in-store",
        input="`region='auto'` with `t` values the store lacks (xarray: `KeyError`)",
        error=errors.RegionKeyError,
        builtin=KeyError,
        message=r"region\['t'\] = 'auto': the data's 't' values \[7, 8\] are not in the store",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _ds().isel(t=[0, 1]).assign_coords(t=[7, 8]), "auto"),
    ),
    BadInput(
        id="region-auto-not-contiguous",
        input="`region='auto'` with `t` values that are not one stretch of the store's "
        "(xarray: `ValueError`)",
        error=errors.RegionError,
        builtin=ValueError,
        message=r"region\['t'\] = 'auto': the data's 't' values are not one contiguous",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _ds().isel(t=[0, 2]), "auto"),
    ),
    BadInput(
        id="region-new-variable",
        input="`mode='r+'` with a variable the store does not have",
        error=errors.RegionError,
        builtin=ValueError,
        message=r"mode='r\+' overwrites existing variables only; \['w'\] are not in the store",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _part(0, 2).assign(w=lambda d: d.v), {"t": slice(0, 2)}),
    ),
    BadInput(
        id="region-partial-chunks",
        input="a region covering stored chunks only in part (`slice(1, 3)`, chunks of 2) "
        "with `safe_chunks=True`, xarray's refusal (without it such chunks are locked)",
        error=errors.RegionError,
        builtin=ValueError,
        message=r"covers stored chunks of 'v' only in part \(chunks of 2 along 't'\)",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _part(1, 3), {"t": slice(1, 3)}, safe_chunks=True),
    ),
    BadInput(
        id="allow-partial-chunks-not-a-bool",
        input="`allow_partial_chunks='no'` (a string, which would read as True)",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"allow_partial_chunks takes True or False, got 'no'",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _part(1, 3), {"t": slice(1, 3)}, allow_partial_chunks="no"),
    ),
    BadInput(
        id="region-with-mode-w",
        input="`region=` with `mode='w'`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"region needs mode='r\+' \(or 'a'\), got mode='w'",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _part(0, 2), {"t": slice(0, 2)}, mode="w"),
    ),
    BadInput(
        id="region-beyond-packed-dtype",
        input="a region write of values beyond the store's packing (`int16` with "
        "`scale_factor=0.01`; xarray wraps them around)",
        error=errors.OutOfRangeError,
        builtin=ValueError,
        message=r"variable 'v' holds packed values from 40000 to 50000, outside int16",
        disk=UNCHANGED,
        setup=_packed_store,
        call=lambda tmp: _region(
            tmp, _part(0, 2).assign(v=lambda d: d.v * 0 + [[400], [500]]), {"t": slice(0, 2)}
        ),
    ),
    BadInput(
        id="region-with-mode-w-minus",
        input="`region=` with `mode='w-'` (xarray: `ValueError`)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"region needs mode='r\+' \(or 'a'\), got mode='w-'",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: _region(tmp, _part(0, 2), {"t": slice(0, 2)}, mode="w-"),
    ),
    # ------------------------------------------------------------ encoding=
    BadInput(
        id="encoding-unknown-key",
        input="`encoding={'v': {'colour': 1}}`, an unknown key",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"unknown encoding key 'colour' for variable 'v'; expected some of",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"v": {"colour": 1}}),
    ),
    BadInput(
        id="encoding-unknown-variable",
        input="`encoding={'w': ...}` for a variable the object lacks",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"encoding names variables \['w'\] that the object does not have",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"w": {"chunks": (1, 1)}}),
    ),
    BadInput(
        id="encoding-not-a-dict",
        input="`encoding=[1]`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"encoding must be a dict \{variable: dict\}, got \[1\]",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding=[1]),
    ),
    BadInput(
        id="encoding-entry-not-a-dict",
        input="`encoding={'v': 1}`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"encoding for variable 'v' must be a dict, got 1",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"v": 1}),
    ),
    BadInput(
        id="encoding-chunks-wrong-length",
        input="`encoding={'v': {'chunks': (1,)}}` for a 2-d variable",
        error=errors.InvalidChunksError,
        builtin=ValueError,
        message=r"encoding\['chunks'\] for variable 'v' must be 2 integers >= 1 \(-1 is not "
        r"taken here\), got \(1,\)",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"v": {"chunks": (1,)}}),
    ),
    BadInput(
        id="encoding-chunks-not-ints",
        input="`encoding={'v': {'chunks': (5, 4.5)}}`",
        error=errors.ChunkSizeTypeError,
        builtin=TypeError,
        message=r"encoding\['chunks'\] for variable 'v' must be an int or a tuple of 2 ints, "
        r"got \(5, 4\.5\)",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"v": {"chunks": (5, 4.5)}}),
    ),
    BadInput(
        id="encoding-chunks-minus-one",
        input="`encoding={'v': {'chunks': -1}}` (an int means every dimension)",
        error=errors.InvalidChunksError,
        builtin=ValueError,
        message=r"must be 2 integers >= 1 \(-1 is not taken here\), got \(-1, -1\)",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"v": {"chunks": -1}}),
    ),
    BadInput(
        id="encoding-compressor-and-compressors",
        input="`encoding={'v': {'compressor': None, 'compressors': ['lz4']}}` (both keys)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"encoding for variable 'v' has both 'compressor' \(None\) and 'compressors' "
        r"\(\['lz4'\]\), which contradict",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"v": {"compressor": None, "compressors": ["lz4"]}}),
    ),
    BadInput(
        id="encoding-compressors-not-codecs",
        input="`encoding={'v': {'compressors': 5}}`",
        error=errors.CodecFormatError,
        builtin=TypeError,
        message=r"compressor must be a name .* or a zarr/numcodecs codec object, got 5",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"v": {"compressors": 5}}),
    ),
    *[
        BadInput(
            id=f"encoding-dtype-{slug}",
            input=f"`encoding={{'v': {{'dtype': {dtype!r}}}}}` (xarray: `TypeError`)",
            error=errors.ArgumentTypeError,
            builtin=TypeError,
            message=rf"encoding\['dtype'\] for variable 'v' is {dtype!r}, which is no numpy dtype",
            disk=NOTHING,
            call=_new_with(encoding={"v": {"dtype": dtype}}),
        )
        for slug, dtype in [("banana", "banana"), ("int", 5)]
    ],
    *[
        BadInput(
            id=f"encoding-{key.strip('_').replace('_', '-').lower()}-not-a-number",
            input=f"`encoding={{'v': {{{key!r}: 'a'}}}}`",
            error=errors.ArgumentTypeError,
            builtin=TypeError,
            message=rf"encoding\[{key!r}\] for variable 'v' must be a number, got 'a'",
            disk=NOTHING,
            call=_new_with(encoding={"v": {key: "a"}}),
        )
        for key in ["scale_factor", "add_offset", "_FillValue", "missing_value"]
    ],
    BadInput(
        id="encoding-fill-value-out-of-dtype",
        input="`encoding={'v': {'dtype': 'i1', '_FillValue': 1000}}` (xarray: `OverflowError`)",
        error=errors.OutOfRangeError,
        builtin=OverflowError,
        message=r"encoding\['_FillValue'\] for variable 'v' is 1000, outside int8",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"v": {"dtype": "i1", "_FillValue": 1000}}),
    ),
    BadInput(
        id="encoding-dtype-wraps-around",
        input="`encoding={'v': {'dtype': 'i1'}}` for values up to 1100 (they would wrap around)",
        error=errors.OutOfRangeError,
        builtin=ValueError,
        message=r"variable 'v' holds values from 0 to 1100, outside int8 \(-128 to 127\)",
        disk=NOTHING,
        call=lambda tmp: _new(
            tmp, _ds().assign(v=lambda d: d.v * 100), encoding={"v": {"dtype": "i1"}}
        ),
    ),
    BadInput(
        id="encoding-dtype-unsigned-negative",
        input="`encoding={'v': {'dtype': 'u1'}}` for negative values",
        error=errors.OutOfRangeError,
        builtin=ValueError,
        message=r"variable 'v' holds values from -5 to 6, outside uint8 \(0 to 255\)",
        disk=NOTHING,
        call=lambda tmp: _new(
            tmp, _ds().assign(v=lambda d: d.v - 5), encoding={"v": {"dtype": "u1"}}
        ),
    ),
    BadInput(
        id="encoding-int-dtype-nan-without-fill",
        input="`encoding={'v': {'dtype': 'i2'}}` for data with NaN and no `_FillValue`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"variable 'v' holds NaN, which int16 cannot hold; give a _FillValue",
        disk=NOTHING,
        call=lambda tmp: _new(
            tmp, _ds().assign(v=lambda d: d.v.where(d.v > 2)), encoding={"v": {"dtype": "i2"}}
        ),
    ),
    BadInput(
        id="encoding-time-int8-wraps-around",
        input="`encoding={'time': {'dtype': 'int8', 'units': 'seconds since 2000-01-01'}}` "
        "for daily times (xarray wraps them into 1999)",
        error=errors.OutOfRangeError,
        builtin=ValueError,
        message=r"variable 'time' holds times from 2000-01-01T00:00:00\.000000000 to "
        r"2000-01-02T00:00:00\.000000000, which are 0 to 86400 'seconds since 2000-01-01': "
        r"outside int8 \(-128 to 127\)",
        disk=NOTHING,
        call=lambda tmp: _new(
            tmp,
            _times("2000-01-01"),
            encoding={"time": {"dtype": "int8", "units": "seconds since 2000-01-01"}},
        ),
    ),
    *[
        BadInput(
            id=f"encoding-dtype-{dtype}-overflows",
            input=f"`encoding={{'v': {{'dtype': {dtype!r}}}}}` for values up to {value:g} "
            "(xarray stores them as `inf`)",
            error=errors.OutOfRangeError,
            builtin=ValueError,
            message=re.escape(f"variable 'v' holds values as large as {value:g}, beyond the ")
            + rf"largest {np.dtype(dtype)} .*, which would be stored as inf",
            disk=NOTHING,
            call=_new_with_values(value, encoding={"v": {"dtype": dtype}}),
        )
        for dtype, value in [("f2", 1e5), ("f4", 1e39)]
    ],
    *[
        BadInput(
            id=f"encoding-dtype-{dtype}-cuts-strings",
            input=f"`encoding={{'s': {{'dtype': {dtype!r}}}}}` for strings of 3 characters"
            " (xarray cuts them short)",
            error=errors.InvalidArgumentError,
            builtin=ValueError,
            message=rf"variable 's' holds strings of up to 3 characters, which encoding dtype "
            rf"'{dtype}' \(2 characters\) would cut short",
            disk=NOTHING,
            call=_new_strings_with(dtype),
        )
        for dtype in ["S2", "U2"]
    ],
    BadInput(
        id="encoding-dtype-bytes-not-ascii",
        input="`encoding={'s': {'dtype': 'S2'}}` for a string that is not ASCII (xarray: "
        "`UnicodeEncodeError` while it writes)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"variable 's' holds strings that are not ASCII, which encoding dtype 'S2' "
        r"\(bytes\) cannot hold",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, _strings("é"), encoding={"s": {"dtype": "S2"}}),
    ),
    BadInput(
        id="encoding-fill-value-also-an-attribute",
        input="`encoding={'v': {'_FillValue': -2.0}}` for a variable with a `_FillValue` "
        "attribute (xarray: `ValueError` while it writes)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"variable 'v' has '_FillValue' both in its attributes \(-1\.0\) and in "
        r"encoding= \(-2\.0\)",
        disk=NOTHING,
        call=lambda tmp: _new(
            tmp, _with_attr("v", "_FillValue", -1.0), encoding={"v": {"_FillValue": -2.0}}
        ),
    ),
    BadInput(
        id="time-units-attribute",
        input="times with a `units` attribute (xarray: `ValueError` while it writes)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"variable 'time' holds times and has 'units' 'days since 2000-01-01' in its "
        r"attributes.*give it in encoding= instead",
        disk=NOTHING,
        call=lambda tmp: _new(
            tmp,
            _times("2000-01-01").assign_coords(
                time=lambda d: d.time.assign_attrs(units="days since 2000-01-01")
            ),
        ),
    ),
    *[
        BadInput(
            id=f"encoding-{key.replace('_', '-')}-not-{slug}",
            input=f"`encoding={{'v': {{{key!r}: {value!r}}}}}`",
            error=error,
            builtin=TypeError,
            message=message,
            disk=NOTHING,
            call=_new_with(encoding={"v": {key: value}}),
        )
        for key, value, slug, error, message in [
            (
                "filters",
                ["banana"],
                "codecs",
                errors.CodecFormatError,
                r"encoding\['filters'\] for variable 'v' must be a list of codec objects, got "
                r"\['banana'\]",
            ),
            (
                "serializer",
                "banana",
                "a-codec",
                errors.CodecFormatError,
                r"encoding\['serializer'\] for variable 'v' must be a codec object, got 'banana'",
            ),
            (
                "shards",
                "x",
                "ints",
                errors.ChunkSizeTypeError,
                r"encoding\['shards'\] for variable 'v' must be an int or a tuple of 2 ints, "
                r"got 'x'",
            ),
            (
                "chunk_key_encoding",
                "banana",
                "a-dict",
                errors.ArgumentTypeError,
                r"encoding\['chunk_key_encoding'\] for variable 'v' must be a dict",
            ),
            (
                "write_empty_chunks",
                "no",
                "a-bool",
                errors.ArgumentTypeError,
                r"encoding\['write_empty_chunks'\] takes True or False, got 'no'",
            ),
        ]
    ],
    BadInput(
        id="encoding-shards-not-multiples-of-chunks",
        input="`encoding={'v': {'shards': (3, 3), 'chunks': (2, 2)}}`",
        error=errors.InvalidChunksError,
        builtin=ValueError,
        message=r"encoding\['shards'\] for variable 'v' is \(3, 3\), which is not a multiple "
        r"of its chunks \(2, 2\)",
        disk=NOTHING,
        call=lambda tmp: _new(tmp, encoding={"v": {"shards": (3, 3), "chunks": (2, 2)}}),
    ),
    # ------------------------------------------------------------ options
    BadInput(
        id="option-unknown",
        input="`set_options(colour='red')`",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"unknown option 'colour'; valid options are \['checksums', 'chunk_target_bytes'",
        disk=NO_DISK,
        call=lambda tmp: xzarrio.set_options(colour="red"),
    ),
    BadInput(
        id="option-get-unknown",
        input="`get_option('colour')`",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"unknown option 'colour'",
        disk=NO_DISK,
        call=lambda tmp: xzarrio.get_option("colour"),
    ),
    BadInput(
        id="option-num-workers",
        input="`set_options(num_workers=0)`",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"option num_workers=0 is invalid: expected None \(all cores\) or an integer >= 1",
        disk=NO_DISK,
        call=lambda tmp: xzarrio.set_options(num_workers=0),
    ),
    BadInput(
        id="option-compressor",
        input="`set_options(compressor='brotli')`",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"option compressor='brotli' is invalid: expected a compressor name or codec",
        disk=NO_DISK,
        call=lambda tmp: xzarrio.set_options(compressor="brotli"),
    ),
    BadInput(
        id="option-compressor-object",
        input="`set_options(compressor=42)`",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"option compressor=42 is invalid",
        disk=NO_DISK,
        call=lambda tmp: xzarrio.set_options(compressor=42),
    ),
    BadInput(
        id="option-progress",
        input="`set_options(progress='yes')`",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"option progress='yes' is invalid: expected True or False",
        disk=NO_DISK,
        call=lambda tmp: xzarrio.set_options(progress="yes"),
    ),
    BadInput(
        id="option-chunk-target-bytes",
        input="`set_options(chunk_target_bytes=0)`",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"option chunk_target_bytes=0 is invalid: expected an integer number of bytes",
        disk=NO_DISK,
        call=lambda tmp: xzarrio.set_options(chunk_target_bytes=0),
    ),
    BadInput(
        id="option-valid-then-invalid",
        input="`set_options(num_workers=2, progress='yes')`: one bad value sets none",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"option progress='yes' is invalid",
        disk=NO_DISK,
        call=lambda tmp: xzarrio.set_options(num_workers=2, progress="yes"),
    ),
    # ------------------------------------------------------------ objects from no store
    BadInput(
        id="reopen-no-store",
        input="`.zio.reopen()` of a Dataset that was read from no store",
        error=errors.NoSourceStoreError,
        builtin=ValueError,
        message=r"cannot reopen: this Dataset was not read from a store",
        disk=NOTHING,
        call=lambda tmp: _ds().zio.reopen(),
    ),
    BadInput(
        id="info-no-store",
        input="`.zio.info()` of a DataArray that was read from no store",
        error=errors.NoSourceStoreError,
        builtin=ValueError,
        message=r"cannot report storage: this DataArray was not read from a store",
        disk=NOTHING,
        call=lambda tmp: _ds().v.zio.info(),
    ),
    BadInput(
        id="open-chunks-not-understood",
        input="`open_zarr(chunks=[1])`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"chunks=\[1\] is not understood; expected 'stored', 'auto'",
        disk=UNCHANGED,
        setup=_store,
        call=lambda tmp: xzarrio.open_zarr(tmp / STORE, chunks=[1]),
    ),
    # ------------------------------------------------------------ profiling
    BadInput(
        id="profile-unknown-scheduler",
        input="`.zio.profile(scheduler='gpu')`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"unknown scheduler 'gpu'; expected one of \['threads'",
        disk=NOTHING,
        call=lambda tmp: _ds().chunk().zio.profile(scheduler="gpu"),
    ),
    BadInput(
        id="profile-num-workers-zero",
        input="`.zio.profile(num_workers=0)`",
        error=errors.InvalidOptionError,
        builtin=ValueError,
        message=r"num_workers must be an integer >= 1 or None, got 0",
        disk=NOTHING,
        call=lambda tmp: _ds().chunk().zio.profile(num_workers=0),
    ),
    BadInput(
        id="reduce-unknown-reduction",
        input="`.zio.reduce('frobnicate')`",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"unknown reduction 'frobnicate'; expected one of \['mean'",
        disk=NOTHING,
        call=lambda tmp: _ds().chunk().zio.reduce("frobnicate"),
    ),
    BadInput(
        id="graph-in-memory",
        input="`.zio.graph()` of an in-memory object (no dask graph)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"nothing to draw: the object holds no dask graph",
        disk=NOTHING,
        call=lambda tmp: _ds().zio.graph(filename=tmp / "graph.svg"),
    ),
    # ------------------------------------------------------------ store objects and URLs
    BadInput(
        id="zip-store-writable",
        input="a writable `zarr.storage.ZipStore` (opened or not; xarray writes it, without undo)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"cannot delete or replace a key \(a zip file cannot\).*give a path",
        disk=NOTHING,
        call=lambda tmp: _ds().zio.to_zarr(ZipStore(tmp / "s.zip", mode="w")),
    ),
    BadInput(
        id="store-object-journal-dies",
        input="an append to a store object whose journal would die with the writer "
        "(not a Local, Fsspec or Memory store, nor a wrapper of one)",
        error=errors.InvalidArgumentError,
        builtin=ValueError,
        message=r"would live only in this process's memory.*pass instead a path, a URL",
        disk="nothing on disk; the store object unchanged",
        call=lambda tmp: _next().zio.to_zarr(_own_store(), append_dim="t"),
    ),
    BadInput(
        id="storage-options-typo-secret",
        input="`storage_options={'key': ..., 'secrt': ...}` for `s3://`",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"storage_options has 'secrt'.*did you mean 'secret'",
        disk="nothing (no request made)",
        call=lambda tmp: _ds().zio.to_zarr(
            "s3://bucket/s.zarr", storage_options={"key": "k", "secrt": "s"}
        ),
    ),
    BadInput(
        id="storage-options-typo-endpoint",
        input="`storage_options={'endpoint': ...}` for `s3://` (s3fs takes `endpoint_url`)",
        error=errors.ArgumentTypeError,
        builtin=TypeError,
        message=r"storage_options has 'endpoint'.*did you mean 'endpoint_url'",
        disk="nothing (no request made)",
        call=lambda tmp: xzarrio.open_zarr(
            "s3://bucket/s.zarr", storage_options={"endpoint": "http://127.0.0.1:9"}
        ),
    ),
    BadInput(
        id="s3-bucket-not-writable",
        input="a new store in a bucket without write access (every PUT refused: 403)",
        error=errors.StoreNotWritableError,
        builtin=PermissionError,
        message=r"takes no writes here \(refused by the test\).*wrote nothing",
        disk="bucket unchanged (empty)",
        call=lambda tmp: _ds().zio.to_zarr(
            f"s3://{_READ_ONLY_BUCKET}/s.zarr", storage_options=_s3_options()
        ),
    ),
    BadInput(
        id="s3-bucket-not-writable-replace",
        input="`mode='w'` over a store in a bucket without write access (every PUT refused)",
        error=errors.StoreNotWritableError,
        builtin=PermissionError,
        message=r"takes no writes here \(refused by the test\).*stage its replacement.*wrote nothing",
        disk="bucket unchanged (the store as it was)",
        setup=_read_only_s3_store,
        call=lambda tmp: _ds().zio.to_zarr(
            f"s3://{_READ_ONLY_BUCKET}/there.zarr", storage_options=_s3_options(), mode="w"
        ),
    ),
    BadInput(
        id="open-missing-s3-store",
        input="`open_zarr` of an `s3://` store that is not there",
        error=errors.StoreNotFoundError,
        builtin=FileNotFoundError,
        message=r"no zarr store at 's3://catalogue/nowhere.zarr'",
        disk="bucket unchanged",
        call=lambda tmp: xzarrio.open_zarr(
            f"s3://{_BUCKET}/nowhere.zarr", storage_options=_s3_options()
        ),
    ),
    BadInput(
        id="icechunk-branch-moved-on",
        input="a write through an icechunk session whose branch another writer committed "
        "to since the session was made (icechunk's `ConflictError`)",
        error=errors.StoreChangedError,
        builtin=RuntimeError,
        message=r"moved on since this session was made.*changes are discarded.*"
        r"writable_session\('main'\)",
        disk="the repository as the other writer left it; the session holds no changes",
        setup=_late_session,
        call=lambda tmp: _next().zio.to_zarr(_SESSIONS.pop(tmp), append_dim="t"),
    ),
]


# ----------------------------------------------------------------- the table


def capture_message(row: BadInput, tmp_path: Path) -> str:
    """Run *row* in *tmp_path* and return its error message, made stable for the docs.

    The temporary folder becomes ``TMP``, and the random parts of staging-directory
    names and in-memory store ids are replaced with placeholders.
    """
    row.setup(tmp_path)
    try:
        row.call(tmp_path)
    except row.error as err:
        text = str(err)
    else:
        raise AssertionError(f"row {row.id!r} raised nothing")
    for folder in {str(tmp_path.resolve()), str(tmp_path.absolute()), str(tmp_path)}:
        text = text.replace(folder, "TMP")
    text = re.sub(r"(xzarrio-staging-)\d+-[0-9a-f]+", r"\1PID-HEX", text)
    text = re.sub(r"memory://\d+", "memory://ID", text)
    return " ".join(text.split())


def _name(cls: type[BaseException]) -> str:
    module = cls.__module__
    return cls.__name__ if module in ("builtins", "xzarrio.errors") else f"{module}.{cls.__name__}"


def _cell(text: str, *, code: bool = False, limit: int | None = None) -> str:
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    if code:
        text = "`" + text.replace("`", "'") + "`"
    return text.replace("|", "\\|")


def render_table(messages: dict[str, str]) -> str:
    """The catalog as Markdown: a table, one row per entry, then the footnote."""
    lines = [
        "| input | error | builtin | message | on disk afterwards |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in CATALOG:
        error = _cell(_name(row.error), code=True) + ("" if row.ours else " †")
        lines.append(
            "| "
            + " | ".join(
                [
                    _cell(row.input),
                    error,
                    _cell(row.builtin.__name__, code=True),
                    _cell(messages[row.id], code=True, limit=120),
                    _cell(row.disk),
                ]
            )
            + " |"
        )
    footnote = f"{len(CATALOG)} rows."
    if not all(row.ours for row in CATALOG):
        footnote += (
            " † not (yet) an `xzarrio.errors.XzarrioError`: raised as is by "
            "xarray, zarr or the operating system."
        )
    lines += ["", footnote]
    return "\n".join(lines)


def capture_all() -> dict[str, str]:
    """Every row's message, each row run in a fresh temporary folder."""
    messages = {}
    with tempfile.TemporaryDirectory() as folder:
        for row in CATALOG:
            where = Path(folder) / row.id
            where.mkdir()
            messages[row.id] = capture_message(row, where)
    return messages


START = "<!-- catalog:start -->"
END = "<!-- catalog:end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "bad-inputs.md"


def split_doc(text: str) -> tuple[str, str, str]:
    """*text* cut into (before the start marker, between the markers, from the end marker)."""
    head, sep, rest = text.partition(START)
    body, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"{DOC} lacks the markers {START} and {END}")
    return head + START, body, END + tail
