"""The plan of a write: every argument checked, the target looked at, the data encoded.

Building a plan writes nothing. It is data: a frozen :class:`WritePlan`, built
once by :func:`plan_write` and never patched; :func:`xzarrio.writing.execution.execute`
carries it out.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil
import xarray as xr
from dask.utils import format_bytes

from .. import options, rounding
from ..autocodec import CodecChoice, choose_codecs
from ..chunks import check_chunks, stored_chunks
from ..codecs import resolve_compressors
from ..consistency import ConsistentReads, ReadBack, read_back
from ..errors import InvalidArgumentError, RegionError, XzarrioError
from ..information import auto_keepbits
from ..integrity.checksums import use_threaded_crc32c
from ..integrity.digests import use_digests
from ..integrity.lineage import source_digests
from ..provenance import Provenance, format_call
from ..reading import provenance_of
from ..running import choose_scheduler, compute, worker_count
from ..stores import key_prefix, locate
from . import checks
from .encode import encode_variables
from .request import Running, WriteRequest
from .shared import SharedChunk, refuse_shared, shared_chunks
from .target import Target, look
from .transactions import Stamping

__all__ = ["AT_ONCE_BYTES", "WritePlan", "plan_write"]

#: data in memory up to this many bytes (a new store, an append, a region) is written by
#: xarray at once, not chunk by chunk as dask tasks: for so little, a task graph and its
#: scheduler cost more than encoding its chunks on several threads saves (a new store of
#: five 100 x 100 variables: 21.7 ms of graph and metadata, more than xarray's whole write)
AT_ONCE_BYTES = 4 * 2**20


@dataclass(frozen=True, kw_only=True)
class WritePlan:
    """Everything a write will do, decided before anything is written."""

    #: the call, as it was made (every keyword checked)
    request: WriteRequest
    #: the Dataset to hand to xarray: encodings set, data in stored-chunk blocks
    ds: xr.Dataset
    #: what is at the store's place, seen once
    target: Target
    #: a region write's ``{dim: slice}``, every ``"auto"`` resolved; or None
    region: Mapping[Hashable, slice] | None
    #: a scheduler name of :data:`xzarrio.running.SCHEDULERS` or a ``distributed.Client``
    scheduler: Any
    #: threads (or processes) that write chunks
    num_workers: int
    #: show a progress bar on stderr
    progress: bool
    #: stamp the provenance attributes
    provenance: bool
    #: the operation as the history line records it
    call: str
    #: the digest of each variable in the store the data were read from, by name
    source_digests: Mapping[str, str] = field(default_factory=dict)
    #: xarray's own keywords, as its ``to_zarr`` is to be given them
    passed_on: Mapping[str, Any] = field(default_factory=dict)
    #: ``compute=False`` of a new store: the write makes the template now (the
    #: metadata, and the data already in memory) and leaves the dask data to a fill
    template: bool = False
    #: data all in memory and small (:data:`AT_ONCE_BYTES`): xarray writes them with
    #: the metadata, in its own call (``compute=True``), and no dask task runs
    in_one_call: bool = False
    #: the stored chunks a region write covers in part: locked, and undone by part
    shared: tuple[SharedChunk, ...] = ()
    #: the readers of the store that the data read through, from arrays the write
    #: does not change: they read on while it runs (:func:`xzarrio.consistency.read_back`)
    readers: tuple[ConsistentReads, ...] = ()

    @property
    def mode(self) -> str:
        """``"w-"``, ``"w"``, ``"a"``, ``"a-"`` or ``"r+"``, as in xarray."""
        return self.request.mode

    @property
    def append_dim(self) -> Hashable | None:
        """The dimension an append extends, or None."""
        return self.request.append_dim

    @property
    def group(self) -> str | None:
        """The group written, or None for the root."""
        return self.request.group

    @property
    def stamping(self) -> Stamping:
        """What the store is stamped with after the data, where it is changed in place."""
        return Stamping(
            call=self.call,
            text=self.request.stamp.history,
            attributes=self.provenance and self.target.existing is not None,
            group=self.group,
            consolidated=self.request.consolidated,
            zarr_format=self.target.zarr_format,
            arrays_kept=self.region is not None and self.adds_no_variable,
            nodes=frozenset(self.target.generations) | {str(n) for n in self.ds.variables},
        )

    @property
    def adds_no_variable(self) -> bool:
        """Whether every variable written is one the store has."""
        existing = self.target.existing
        return existing is not None and all(n in existing.variables for n in self.ds.variables)

    @property
    def operation(self) -> str:
        """What the write is, in words, for journals and messages."""
        return self.request.operation


def plan_write(obj: xr.Dataset | xr.DataArray, store: Any, request: WriteRequest) -> WritePlan:
    """Check what *request* asks of *obj* against the store, look at the target,
    encode the data (a template, for a new store, where it is not computed now);
    writes nothing."""
    ds = _checked_dataset(obj, request.chunks)
    target = look(locate(store, request.storage_options), request)
    running = _running(ds, target, request.running)
    ds, region = _fit_to_store(ds, target, request)
    ds, kept = _kept_bits(ds, target, request, running)
    auto = _auto_codecs(ds, target, request, kept, running)
    reads = _read_back(ds, target, request)
    if reads.variables and request.running.compute:
        ds = _read_first(ds, reads.variables, running)
    shared, in_part = _shared_chunks(ds, target, region, request)
    if target.existing is None:
        ds = ds.assign_attrs(_inherited_attrs(obj, ds))
    template = not request.running.compute and target.existing is None and target.holds_templates
    in_one_call = _small_in_memory(ds, request)
    at_once = template or in_one_call
    provenance = request.stamp.recorded and bool(options.OPTIONS["provenance"])
    digests = source_digests(obj) if provenance else {}  # for the history line alone
    return WritePlan(
        request=request,
        ds=_encode(ds, target, request, region, kept, auto, in_blocks=not at_once),
        target=target,
        region=region,
        **running,
        provenance=provenance,
        call=_call(obj, target, request, region, digests, kept, auto),
        source_digests=digests,
        passed_on=request.xarray.passed_on(in_part=in_part),
        template=template,
        in_one_call=in_one_call,
        shared=shared,
        readers=reads.readers,
    )


def _read_back(ds: xr.Dataset, target: Target, request: WriteRequest) -> ReadBack:
    """What the data read from the store they are written to; refused where the write
    would change it before reading it.

    A new store made now and filled later (``compute=False``) replaces the
    store it is read from before it is read. An in-place write reads the
    arrays it changes first (in memory, where they fit in half of it).
    """
    prefix = key_prefix(request.group)
    written = {prefix + str(n) for n in ds.variables} if target.in_place else set()
    reads = read_back(ds, target.location.zarr_store(), written)
    if not reads:
        return reads
    templated = not request.running.compute and not target.in_place and target.holds_templates
    if templated:
        raise InvalidArgumentError(
            f"the data are read from {target.location.shown}, which this write replaces: "
            "with compute=False the store would be replaced now and read later, when it "
            "no longer holds them. Write with compute=True (the new store is staged "
            "while the old one is read), or to another store"
        )
    size = sum(ds.variables[n].nbytes for n in reads.variables)
    room = psutil.virtual_memory().available // 2
    if size > room:
        raise InvalidArgumentError(
            f"the data of {list(reads.variables)} are read from the arrays of "
            f"{target.location.shown} that this write changes, so they are read first: "
            f"{format_bytes(size)}, more than half of the memory free "
            f"({format_bytes(room)}). Write them to another store first, then from it"
        )
    return reads


def _read_first(ds: xr.Dataset, names: tuple[str, ...], running: dict[str, Any]) -> xr.Dataset:
    """*ds* with the variables *names* read now (into memory, in the same chunks)."""
    values = compute(
        *(ds.variables[n].data for n in names),
        scheduler=running["scheduler"],
        num_workers=running["num_workers"],
        progress=running["progress"],
    )
    ds = ds.copy(deep=False)
    for name, value in zip(names, values, strict=True):
        variable = ds.variables[name]
        variable.data = variable.copy(data=value).chunk(variable.chunksizes).data
    return ds


def _running(ds: xr.Dataset, target: Target, running: Running) -> dict[str, Any]:
    """How the write runs: its scheduler (refused where its workers cannot reach the
    store), its workers, its progress bar."""
    where = target.location
    scheduler = choose_scheduler(running.scheduler, where, data=ds, in_place=target.in_place)
    return {
        "scheduler": scheduler,
        "num_workers": worker_count(running.num_workers, where),
        "progress": options.OPTIONS["progress"] if running.progress is None else running.progress,
    }


def _checksums(checksums: Any) -> bool:
    """Whether new zarr 3 arrays get chunk checksums: *checksums*, else the option."""
    use_threaded_crc32c()
    use_digests()  # a reload of zarr's config forgets both
    return bool(options.OPTIONS["checksums"] if checksums is None else checksums)


def _small_in_memory(ds: xr.Dataset, request: WriteRequest) -> bool:
    """Whether *ds*, written now, is all in memory and at most :data:`AT_ONCE_BYTES`:
    xarray then writes it at once, as it writes numpy data, through the write's store
    (its journal, chunk locks and digests as for a task), and no chunk write is a
    dask task."""
    if not request.running.compute:
        return False
    variables = ds.variables.values()
    in_memory = all(v.chunks is None for v in variables)
    return in_memory and sum(v.nbytes for v in variables) <= AT_ONCE_BYTES


def _encode(
    ds: xr.Dataset, target: Target, request: WriteRequest, region: Any,
    kept: Mapping[Hashable, int], auto: Mapping[Hashable, CodecChoice], *, in_blocks: bool,
) -> xr.Dataset:  # fmt: skip
    """*ds* with the write's codecs (those ``"auto"`` chose: *auto*), stored chunks and
    the user's encoding, in blocks where *in_blocks* (else its data in memory stays there,
    for xarray to write at once), its variables of *kept* rounded to their kept bits.
    """
    offsets = _offsets(target, request.append_dim, region)
    fmt = target.zarr_format
    compressor = request.compressor
    asked = options.OPTIONS["compressor"] if compressor is None else compressor

    def compressors(name: Hashable, var: xr.Variable) -> tuple[Any, ...]:
        # "auto" measured numbers only; the rest get what "default" gives them
        by_name = auto[name].name if name in auto else "default" if _is_auto(asked) else asked
        return resolve_compressors(by_name, fmt, var.dtype)

    old = set(target.existing.variables) if target.existing is not None else set()
    user_encoding = checks.check_encoding(ds, request.encoding, old, fmt)
    layout = stored_chunks(ds, request.chunks, options.OPTIONS["chunk_target_bytes"])
    layout.update({n: e["chunks"] for n, e in user_encoding.items() if "chunks" in e})
    return encode_variables(
        ds, layout, compressors, user_encoding, target.existing, offsets, zarr_format=fmt,
        carried_codecs=compressor is None, checksums=_checksums(request.checksums),
        in_blocks=in_blocks, kept=kept,
    )  # fmt: skip


def _kept_bits(
    ds: xr.Dataset, target: Target, request: WriteRequest, running: Mapping[str, Any]
) -> tuple[xr.Dataset, dict[Hashable, int]]:
    """The mantissa bits each variable keeps: the store's for those it rounds, those
    asked for the others (``"auto"`` measured now, on a sample); and *ds* with the CF
    quantization container where a variable new to the store is rounded."""
    old = target.existing
    kept = rounding.kept_in_store(old, ds.data_vars) if old is not None else {}
    asked = rounding.requested_bits(ds, request.keepbits, old)
    if not asked:
        return ds, kept
    rounding.check_keepbits(ds, asked, request.encoding)
    auto = [name for name, bits in asked.items() if bits == "auto"]
    if auto:
        asked.update(auto_keepbits(ds, auto, request.information, _on_workers(running)))
    for name, bits in asked.items():
        # data rounded before (a copy of a rounded store) keep no more bits than they have
        before = rounding.kept_bits_of(ds.variables[name].attrs)
        kept[name] = int(bits) if before is None else min(int(bits), before)
    if old is None or rounding.CONTAINER not in old.variables:
        ds = ds.assign({rounding.CONTAINER: rounding.quantization_container()})
    return ds, kept


def _auto_codecs(
    ds: xr.Dataset, target: Target, request: WriteRequest, kept: Mapping[Hashable, int],
    running: Mapping[str, Any],
) -> dict[Hashable, CodecChoice]:  # fmt: skip
    """The codec ``compressor="auto"`` picks for each variable new to the store, measured
    on a sample of its chunks as the write will store them (rounded to *kept*)."""
    asked = options.OPTIONS["compressor"] if request.compressor is None else request.compressor
    if not _is_auto(asked):
        return {}
    old = target.existing.variables if target.existing is not None else {}
    new = [name for name in ds.variables if name not in old]
    layout = stored_chunks(ds, request.chunks, options.OPTIONS["chunk_target_bytes"])
    threads = running["num_workers"]
    return choose_codecs(ds, new, layout, kept, threads, _on_workers(running))


def _is_auto(compressor: Any) -> bool:
    """Whether *compressor* asks ``"auto"`` to choose (names are taken in any case)."""
    return isinstance(compressor, str) and compressor.lower() == "auto"


def _on_workers(running: Mapping[str, Any]) -> Callable[..., tuple[Any, ...]]:
    """dask's compute on the write's scheduler and workers, without a progress bar."""

    def run(*graphs: Any) -> tuple[Any, ...]:
        workers = {key: running[key] for key in ("scheduler", "num_workers")}
        return compute(*graphs, **workers, progress=False)

    return run


def _checked_dataset(obj: xr.Dataset | xr.DataArray, chunks: Any) -> xr.Dataset:
    """*obj* as a Dataset, after the checks that need only it and the arguments."""
    ds = checks.as_dataset(obj)
    checks.check_names(ds)
    check_chunks(ds, chunks)
    checks.check_all_attrs(ds)
    checks.check_storable(ds)
    return ds


def _fit_to_store(ds: xr.Dataset, target: Target, request: WriteRequest) -> tuple[xr.Dataset, Any]:
    """Check an append or region write against the store; resolve the region."""
    old, append_dim, region = target.existing, request.append_dim, request.region
    if old is None:
        return ds, region
    if append_dim is not None or region is not None:
        operation = "append" if region is None else "region write"
        checks.check_kept_layout(request.chunks, request.compressor, request.keepbits, operation)
    if append_dim is not None:
        checks.check_append(ds, old, append_dim)
        ds = checks.fit_strings(ds, old)
    missing = [n for n in ds.data_vars if n not in old.variables]
    if request.mode == "r+" and missing:
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
    ds: xr.Dataset, target: Target, region: Any, request: WriteRequest
) -> tuple[tuple[SharedChunk, ...], bool]:
    """The chunks a region write covers in part that it locks, and whether it covers any.

    ``safe_chunks=True`` refuses such chunks, as xarray does. Where the caller
    allows them (``allow_partial_chunks=True`` or ``safe_chunks=False``: no other
    process writes them) they are written unlocked, and so they are with
    ``align_chunks=False``, xarray's way, whose own check then decides; else they
    are locked where the store can lock a chunk, and refused where it cannot.
    """
    safe_chunks = request.xarray.safe_chunks
    allow = request.allow_partial_chunks or safe_chunks is False
    allow = allow or not request.xarray.align_chunks
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
    if not target.location.locks_chunks:
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
    obj: Any, target: Target, request: WriteRequest, region: Any, digests: Mapping[str, str],
    kept: Mapping[Hashable, int], auto: Mapping[Hashable, CodecChoice],
) -> str:  # fmt: skip
    """The operation and its arguments, as the history line records them: the
    caller's own (a rechunk's), else those of ``zio.to_zarr``."""
    source = obj.encoding.get("source")
    arguments = request.stamp.arguments
    if arguments is None:
        arguments = {
            "mode": request.mode,
            "chunks": request.chunks,
            "compressor": _chosen(auto) or request.compressor,
            "append_dim": request.append_dim,
            "region": region,
        }
    arguments = {**arguments, **_rounding_arguments(request, kept)}
    return format_call(
        request.stamp.operation,
        {
            "store": target.location.name if target.location.named else None,
            "source": source if isinstance(source, str) else None,
            **arguments,
            "group": target.group,
            "zarr_format": target.zarr_format,
            "source_digests": dict(digests) or None,
        },
    )


def _rounding_arguments(request: WriteRequest, kept: Mapping[Hashable, int]) -> dict[str, Any]:
    """``keepbits`` as the history line records it: the bits each variable asked for
    kept (``"auto"`` resolved), and the share of information asked of ``"auto"``."""
    if request.keepbits is None:
        return {}
    keepbits = request.keepbits
    recorded: dict[str, Any] = {"keepbits": {str(n): kept[n] for n in sorted(kept, key=str)}}
    if keepbits == "auto" or (isinstance(keepbits, Mapping) and "auto" in keepbits.values()):
        recorded["information"] = request.information
    return recorded


def _chosen(auto: Mapping[Hashable, CodecChoice]) -> dict[str, str] | None:
    """What ``compressor="auto"`` chose, as the history line records it: per variable
    the codec and its ratio and encode rate on the sample."""
    return {str(name): str(choice) for name, choice in sorted(auto.items(), key=str)} or None
