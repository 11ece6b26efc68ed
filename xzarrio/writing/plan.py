"""The plan of a write: every argument checked, the target looked at, the data encoded.

Building a plan writes nothing. It is data: a frozen :class:`WritePlan`, built
once by :func:`plan` and never patched; :func:`xzarrio.writing.execution.execute`
carries it out.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import xarray as xr
import zarr

from .. import options
from ..chunks import check_chunks, stored_chunks
from ..codecs import resolve_compressors
from ..errors import InvalidArgumentError, RegionError, XzarrioError
from ..integrity.checksums import use_threaded_crc32c
from ..integrity.digests import use_digests
from ..integrity.lineage import source_digests
from ..provenance import Provenance, format_call
from ..reading import provenance_of
from ..schedulers import is_distributed_client, resolve_scheduler
from ..stores import Location, locate
from . import checks
from .encode import encode_variables
from .shared import LOCKABLE, SharedChunk, refuse_shared, shared_chunks
from .target import Target, look

__all__ = ["WritePlan", "check_scheduler_reaches", "plan", "stays_local"]


@dataclass(frozen=True, kw_only=True)
class WritePlan:
    """Everything a write will do, decided before anything is written."""

    #: the Dataset to hand to xarray: encodings set, data in stored-chunk blocks
    ds: xr.Dataset
    #: what is at the store's place, seen once
    target: Target
    #: ``"w-"``, ``"w"``, ``"a"``, ``"a-"`` or ``"r+"``, as in xarray (``target`` says
    #: whether the write is in place: ``"a"`` where nothing is makes a new store)
    mode: str
    #: the dimension an append extends, or None
    append_dim: Hashable | None
    #: a region write's ``{dim: slice}``, every ``"auto"`` resolved; or None
    region: Mapping[Hashable, slice] | None
    #: write consolidated metadata (None: yes, where the store can hold it)
    consolidated: bool | None
    #: a scheduler name of :data:`xzarrio.schedulers.SCHEDULERS` or a ``distributed.Client``
    scheduler: Any
    #: threads (or processes) that write chunks
    num_workers: int
    #: show a progress bar on stderr
    progress: bool
    #: stamp the provenance attributes
    provenance: bool
    #: the operation as the history line records it
    call: str
    #: the user's note for the history line
    text: str | None
    #: the digest of each variable in the store the data were read from, by name
    source_digests: Mapping[str, str] = field(default_factory=dict)
    #: xarray's keywords of the same names, passed on to its ``to_zarr``
    group: str | None = None
    #: what xarray's own check of dask and stored chunks is told (see ``_passed_on``)
    safe_chunks: bool = True
    align_chunks: bool = True
    write_empty_chunks: bool | None = None
    chunkmanager_store_kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: ``compute=False`` of a new store: the write makes the template now (the
    #: metadata, and the data already in memory) and leaves the dask data to a fill
    template: bool = False
    #: the stored chunks a region write covers in part: locked, and undone by part
    shared: tuple[SharedChunk, ...] = ()
    #: when the call began (``time.perf_counter``), for the report
    started: float = field(default_factory=time.perf_counter)

    @property
    def operation(self) -> str:
        """What the write is, in words, for journals and messages."""
        if self.append_dim is not None:
            return f"append along {self.append_dim!r}"
        return "region write" if self.region is not None else f"mode={self.mode!r} write"


def plan(
    obj: xr.Dataset | xr.DataArray,
    store: Any,
    *,
    mode: str = "w-",
    chunks: Any = None,
    compressor: Any = None,
    checksums: bool | None = None,
    history: str | None = None,
    append_dim: Hashable | None = None,
    region: Any = None,
    consolidated: bool | None = None,
    zarr_format: int | None = None,
    storage_options: dict[str, Any] | None = None,
    encoding: Mapping[Hashable, Mapping[str, Any]] | None = None,
    num_workers: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    allow_partial_chunks: bool = False,
    group: str | None = None,
    safe_chunks: bool | None = None,
    align_chunks: bool = True,
    write_empty_chunks: bool | None = None,
    chunkmanager_store_kwargs: Mapping[str, Any] | None = None,
    compute: bool = True,
) -> WritePlan:
    """Check every argument, look at the target, encode the data (a template if not
    *compute*, for a new store); writes nothing."""
    started = time.perf_counter()
    ds = _checked_dataset(obj, chunks, history, zarr_format)
    _check_keywords(progress, consolidated, write_empty_chunks, chunkmanager_store_kwargs)
    mode = checks.resolve_mode(mode, append_dim, region)
    group = checks.check_group(group)
    target = look(locate(store, storage_options), mode, zarr_format, region=region, group=group)
    running = _running(ds, target, scheduler, num_workers, progress)
    ds, region = _fit_to_store(ds, target, mode, append_dim, region, chunks, compressor)
    shared, in_part = _shared_chunks(
        ds, target, region, allow_partial_chunks, safe_chunks, align_chunks
    )
    if target.existing is None:
        ds = ds.assign_attrs(_inherited_attrs(obj, ds))
    template = not compute and target.existing is None and target.location.kind != "icechunk"
    provenance = bool(options.OPTIONS["provenance"])
    digests = source_digests(obj) if provenance else {}  # for the history line alone
    return WritePlan(
        ds=_encode(
            ds,
            target,
            chunks,
            compressor,
            _checksums(checksums),
            encoding,
            append_dim,
            region,
            template,
        ),
        target=target,
        mode=mode,
        append_dim=append_dim,
        region=region,
        consolidated=consolidated,
        **running,
        provenance=provenance,
        call=_call(obj, store, target, mode, chunks, compressor, append_dim, region, digests),
        text=history,
        source_digests=digests,
        started=started,
        group=group,
        **_passed_on(
            safe_chunks, in_part, align_chunks, write_empty_chunks, chunkmanager_store_kwargs
        ),
        template=template,
        shared=shared,
    )


def _passed_on(
    safe_chunks: bool | None, in_part: bool, align_chunks: Any, write_empty_chunks: bool | None,
    store_kwargs: Mapping[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    """xarray's keywords that the write hands on to its ``to_zarr``.

    xarray's own check of chunks covered in part is left out where xzarrio has
    taken them (*in_part*), but only where the dask chunks are aligned to the
    stored ones: else two tasks of the write would share a chunk, and xarray's
    check is the one that refuses that.
    """
    aligned = checks.check_flag("align_chunks", align_chunks)
    return {
        "safe_chunks": safe_chunks is not False and not (in_part and aligned),
        "align_chunks": aligned,
        "write_empty_chunks": write_empty_chunks,
        "chunkmanager_store_kwargs": dict(store_kwargs or {}),
    }


def _running(
    ds: xr.Dataset, target: Target, scheduler: Any, num_workers: int | None, progress: Any
) -> dict[str, Any]:
    """How the write runs: its scheduler, its workers, its progress bar."""
    return {
        "scheduler": _scheduler(ds, target, scheduler),
        "num_workers": _num_workers(num_workers, target),
        "progress": options.OPTIONS["progress"] if progress is None else bool(progress),
    }


def _scheduler(ds: xr.Dataset, target: Target, scheduler: Any) -> Any:
    """The write's scheduler, refused where its workers cannot reach the store."""
    chosen = resolve_scheduler(scheduler, local_only=stays_local(ds, target.location))
    check_scheduler_reaches(chosen, target.location, in_place=target.in_place)
    return chosen


def stays_local(ds: xr.Dataset, *locations: Location) -> bool:
    """Whether ``scheduler=None`` keeps to this process: for data in memory, or a store
    among *locations* that lives in this process, no Client unless one is asked for."""
    in_memory = all(v.chunks is None for v in ds.variables.values())
    return in_memory or any(where.kind in ("memory", "object") for where in locations)


def _num_workers(num_workers: int | None, target: Target) -> int:
    workers = options.resolve_num_workers(num_workers)
    if num_workers is None and options.OPTIONS["num_workers"] is None:
        if target.location.kind == "fsspec":
            # an object store's writes wait on the network: as many at once as zarr's own
            workers = max(workers, int(zarr.config.get("async.concurrency") or 1))
    return workers


def _checksums(checksums: Any) -> bool:
    """Whether new zarr 3 arrays get chunk checksums: *checksums*, else the option."""
    use_threaded_crc32c()
    use_digests()  # a reload of zarr's config forgets both
    if checksums is None:
        return bool(options.OPTIONS["checksums"])
    return checks.check_flag("checksums", checksums)


def _encode(
    ds: xr.Dataset, target: Target, chunks: Any, compressor: Any, checksums: bool,
    encoding: Any, append_dim: Hashable | None, region: Any, template: bool,
) -> xr.Dataset:  # fmt: skip
    """*ds* with the write's codecs, stored chunks and the user's encoding, in blocks.

    A *template*'s data in memory stays in memory: xarray writes it at once.
    """
    offsets = _offsets(target, append_dim, region)
    fmt = target.zarr_format
    compressors = resolve_compressors(
        options.OPTIONS["compressor"] if compressor is None else compressor, fmt
    )
    old = set(target.existing.variables) if target.existing is not None else set()
    user_encoding = checks.check_encoding(ds, encoding, old, fmt)
    layout = stored_chunks(ds, chunks, options.OPTIONS["chunk_target_bytes"])
    layout.update({n: e["chunks"] for n, e in user_encoding.items() if "chunks" in e})
    return encode_variables(
        ds, layout, compressors, user_encoding, target.existing, offsets, zarr_format=fmt,
        carried_codecs=compressor is None, checksums=checksums, in_blocks=not template,
    )  # fmt: skip


def _checked_dataset(
    obj: xr.Dataset | xr.DataArray, chunks: Any, history: Any, zarr_format: Any
) -> xr.Dataset:
    """*obj* as a Dataset, after the checks that need only it and the arguments."""
    ds = checks.as_dataset(obj)
    checks.check_names(ds)
    if zarr_format not in (None, 2, 3):
        raise InvalidArgumentError(f"zarr_format must be 2, 3 or None, got {zarr_format!r}")
    check_chunks(ds, chunks)
    checks.check_all_attrs(ds)
    checks.check_storable(ds)
    if history is not None and not isinstance(history, str):
        raise InvalidArgumentError(
            f"history must be a string (your note for the history line), got {history!r}"
        )
    return ds


def _check_keywords(
    progress: Any, consolidated: Any, write_empty_chunks: Any, store_kwargs: Any
) -> None:
    """The keywords that take True, False or None; the keywords for ``dask.array.store``."""
    checks.check_optional_flag("progress", progress)
    checks.check_optional_flag("consolidated", consolidated)
    checks.check_optional_flag("write_empty_chunks", write_empty_chunks)
    checks.check_mapping("chunkmanager_store_kwargs", store_kwargs, "keywords for dask.array.store")


def check_scheduler_reaches(scheduler: Any, location: Location, *, in_place: bool) -> None:
    """Refuse a scheduler whose workers cannot reach the store at *location* (a local
    one that is not there yet, not *in_place*: its folder)."""
    on_client = is_distributed_client(scheduler)
    if not on_client and scheduler != "processes":
        return
    kind = location.kind
    if kind == "icechunk" and not on_client:
        raise InvalidArgumentError(
            "the processes scheduler cannot write to an icechunk session: the changes "
            "its processes make never come back to it; use scheduler='threads' or a "
            "distributed.Client (the session is forked to the workers and merged back)"
        )
    if kind in ("memory", "object"):
        who = "a distributed.Client" if on_client else "the processes scheduler"
        raise InvalidArgumentError(
            f"{who} cannot write to this {kind} store: its workers run in other processes "
            "and would write into copies of it; use scheduler='threads', or a store that "
            "the workers can reach (a shared path, an object store URL)"
        )
    if on_client and kind == "local":
        path = location.path
        assert path is not None
        folder = str(path.parent if not in_place else path)
        seen = scheduler.run(_is_dir, folder)
        blind = sorted(worker for worker, ok in seen.items() if not ok)
        if blind:
            raise InvalidArgumentError(
                f"the Client's workers {blind} cannot see {folder!r}; write to a path that "
                "every worker shares, or to an object store"
            )


def _is_dir(path: str) -> bool:
    import os

    return os.path.isdir(path)


def _fit_to_store(
    ds: xr.Dataset, target: Target, mode: str, append_dim: Hashable | None, region: Any,
    chunks: Any, compressor: Any,
) -> tuple[xr.Dataset, Any]:  # fmt: skip
    """Check an append or region write against the store; resolve the region."""
    old = target.existing
    if old is None:
        return ds, region
    if append_dim is not None or region is not None:
        checks.check_kept_layout(chunks, compressor, "append" if region is None else "region write")
    if append_dim is not None:
        checks.check_append(ds, old, append_dim)
        ds = checks.fit_strings(ds, old)
    missing = [n for n in ds.data_vars if n not in old.variables]
    if mode == "r+" and missing:
        raise RegionError(
            f"mode='r+' overwrites existing variables only; {missing} are not in the store "
            "(use mode='a' to add variables)"
        )
    if region is not None:
        region = checks.resolve_region(ds, old, region)
        checks.check_region(ds, old, region)
        ds = checks.without_indexes(ds, old, region)
    taken = [n for n in ds.variables if n not in old.variables and str(n) in target.groups]
    if taken:
        raise InvalidArgumentError(
            f"{taken[0]!r} is a group in the store; a variable cannot take its name"
        )
    return ds, region


def _shared_chunks(
    ds: xr.Dataset, target: Target, region: Any, allow_partial_chunks: Any, safe_chunks: Any,
    align_chunks: Any,
) -> tuple[tuple[SharedChunk, ...], bool]:  # fmt: skip
    """The chunks a region write covers in part that it locks, and whether it covers any.

    ``safe_chunks=True`` refuses such chunks, as xarray does. Where the caller
    allows them (``allow_partial_chunks=True`` or ``safe_chunks=False``: no other
    process writes them) they are written unlocked, and so they are with
    ``align_chunks=False``, xarray's way, whose own check then decides; else they
    are locked where the store can lock a chunk, and refused where it cannot.
    """
    allow = checks.check_flag("allow_partial_chunks", allow_partial_chunks)
    if safe_chunks is not None:
        allow = allow or not checks.check_flag("safe_chunks", safe_chunks)
    allow = allow or not checks.check_flag("align_chunks", align_chunks)
    old = target.existing
    shared = shared_chunks(ds, old, region) if old is not None else ()
    if not shared:
        return (), False
    assert old is not None
    if safe_chunks is True:
        refuse_shared(
            shared, old, region,
            "safe_chunks=True refuses that, as xarray does; leave it out to have xzarrio "
            "lock each such chunk while it writes",
        )  # fmt: skip
    if allow:
        return (), True
    if target.location.kind not in LOCKABLE:
        refuse_shared(
            shared, old, region,
            "writing part of a chunk rewrites all of it, and this store cannot lock a chunk, "
            "so another writer of its other part could lose data. Align the region to the "
            "stored chunks, or pass allow_partial_chunks=True if no other process writes "
            "those chunks",
        )  # fmt: skip
    return shared, True


def _offsets(target: Target, append_dim: Hashable | None, region: Any) -> dict[Hashable, int]:
    """Where the data starts in the store's arrays, per dimension."""
    if target.existing is None:
        return {}
    if append_dim is not None:
        return {append_dim: target.existing.sizes[append_dim]}
    if isinstance(region, Mapping):
        return {dim: where.indices(target.existing.sizes[dim])[0] for dim, where in region.items()}
    return {}


def _inherited_attrs(obj: xr.Dataset | xr.DataArray, ds: xr.Dataset) -> dict[str, Any]:
    """The root attributes of a new store: the object's, with the trail it inherits."""
    attrs = dict(ds.attrs)
    if options.OPTIONS["provenance"] and "history" not in attrs and isinstance(obj, xr.DataArray):
        # a DataArray carries no root attributes: its store's history is its trail
        trail = _trail_of_dataarray(obj)
        if trail is not None and trail.history:
            attrs["history"] = "\n".join(str(e) for e in trail.history)
    return attrs


def _trail_of_dataarray(obj: xr.DataArray) -> Provenance | None:
    """The provenance a DataArray inherits from its store, if that store is still there."""
    try:
        return provenance_of(obj)
    except (XzarrioError, OSError):
        return None


def _call(
    obj: Any, store: Any, target: Target, mode: str, chunks: Any, compressor: Any,
    append_dim: Any, region: Any, digests: Mapping[str, str],
) -> str:  # fmt: skip
    """The operation and its arguments, as the history line records them."""
    source = obj.encoding.get("source")
    named = target.location.kind in ("local", "fsspec")
    return format_call(
        "zio.to_zarr",
        {
            "store": target.location.name if named else None,
            "source": source if isinstance(source, str) else None,
            "mode": mode,
            "chunks": chunks,
            "compressor": compressor,
            "append_dim": append_dim,
            "region": region,
            "group": target.group,
            "zarr_format": target.zarr_format,
            "source_digests": dict(digests) or None,
        },
    )
