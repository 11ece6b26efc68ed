"""The ``.zio`` accessor: one class on both Dataset and DataArray.

Each member checks its arguments and hands the object to the plain function
of the module that owns the concern. Nothing is kept on the accessor.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, Literal, overload

import xarray as xr
from dask.delayed import Delayed

from . import information, profiling, reading, rechunking, writing
from .profiling import Profiled
from .provenance import Provenance
from .storeinfo import StoreInfo
from .writing import WriteReport

__all__ = ["ZioAccessor"]


@xr.register_dataset_accessor("zio")
@xr.register_dataarray_accessor("zio")
class ZioAccessor:
    """Parallel zarr input/output with provenance, on ``Dataset.zio`` and ``DataArray.zio``."""

    def __init__(self, obj: xr.Dataset | xr.DataArray) -> None:
        self._obj = obj

    @overload
    def to_zarr(
        self,
        store: Any,
        *,
        mode: str | None = None,
        chunks: Any = None,
        compressor: Any = None,
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
        compute: Literal[True] = True,
        allow_partial_chunks: bool = False,
        group: str | None = None,
        safe_chunks: bool | None = None,
        align_chunks: bool = True,
        write_empty_chunks: bool | None = None,
        chunkmanager_store_kwargs: dict[str, Any] | None = None,
        checksums: bool | None = None,
        keepbits: int | Mapping[Hashable, int | str] | str | None = None,
        information: float = 0.99,
    ) -> WriteReport: ...

    @overload
    def to_zarr(
        self,
        store: Any,
        *,
        mode: str | None = None,
        chunks: Any = None,
        compressor: Any = None,
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
        compute: Literal[False],
        allow_partial_chunks: bool = False,
        group: str | None = None,
        safe_chunks: bool | None = None,
        align_chunks: bool = True,
        write_empty_chunks: bool | None = None,
        chunkmanager_store_kwargs: dict[str, Any] | None = None,
        checksums: bool | None = None,
        keepbits: int | Mapping[Hashable, int | str] | str | None = None,
        information: float = 0.99,
    ) -> Delayed: ...

    @overload
    def to_zarr(
        self,
        store: Any,
        *,
        mode: str | None = None,
        chunks: Any = None,
        compressor: Any = None,
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
        compute: bool = True,
        allow_partial_chunks: bool = False,
        group: str | None = None,
        safe_chunks: bool | None = None,
        align_chunks: bool = True,
        write_empty_chunks: bool | None = None,
        chunkmanager_store_kwargs: dict[str, Any] | None = None,
        checksums: bool | None = None,
        keepbits: int | Mapping[Hashable, int | str] | str | None = None,
        information: float = 0.99,
    ) -> WriteReport | Delayed: ...

    def to_zarr(
        self,
        store: Any,
        *,
        mode: str | None = None,
        chunks: Any = None,
        compressor: Any = None,
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
        compute: bool = True,
        allow_partial_chunks: bool = False,
        group: str | None = None,
        safe_chunks: bool | None = None,
        align_chunks: bool = True,
        write_empty_chunks: bool | None = None,
        chunkmanager_store_kwargs: dict[str, Any] | None = None,
        checksums: bool | None = None,
        keepbits: int | Mapping[Hashable, int | str] | str | None = None,
        information: float = 0.99,
    ) -> WriteReport | Delayed:
        """Write to a chunked, compressed zarr store, chunks in parallel, with provenance.

        Parameters
        ----------
        store : str, path, zarr store or icechunk.Session
            A local directory, a URL such as ``s3://bucket/out.zarr`` (with
            *storage_options*), a zarr store object, or a writable
            ``icechunk.Session`` (committed once when the write succeeds, with
            the history line as the message; see ``WriteReport.snapshot_id``).
        mode : {"w-", "w", "a", "a-", "r+"}, optional
            ``"w-"`` refuses an existing store (``FileExistsError``); ``"w"``
            replaces it, atomically on a local store; ``"a"`` with *append_dim*
            appends (``"a-"``: only the variables that have *append_dim*, as in
            xarray), and where no store is yet makes one; ``"r+"`` with
            *region* overwrites a region. Default None, as in xarray: ``"a"``
            with *append_dim*, ``"r+"`` with *region*, else ``"w-"``.
        chunks : None, "auto" or dict, optional
            Stored chunks. None keeps the object's dask chunks (zarr chooses for
            in-memory data); ``"auto"`` aims at ``chunk_target_bytes``; a dict
            ``{dim: size}`` sets the named dims (``-1``: the whole dimension;
            ``None``: its current chunks), the others keep their dask chunks or
            are stored whole. Dask chunks are aligned to stored
            chunks before writing, so no two tasks write one stored chunk.
            Dimension coordinates are stored in chunks of at least 1 MiB (unless
            *encoding* says otherwise): every open reads them whole.
        compressor : str or codec, optional
            ``"default"`` (``"blosc-zstd"`` on floating-point variables,
            ``"zstd"`` on the others), ``"blosc-zstd"``, ``"blosc-zstd-bit"``,
            ``"zstd"``, ``"lz4"``, ``"blosc"``, ``"gzip"``, ``"none"``, a
            zarr/numcodecs codec object, or ``"auto"``: per variable, the codec
            that stores a seeded sample of its chunks (a fiftieth, 1-16 MiB)
            smallest among those that encode it on the write's threads at least
            90 % as fast as the default (blosc-zstd, blosc-zstd-bit, blosc,
            zstd, lz4; rounded first where *keepbits* asks it); the choice and
            its figures go into the history line.
        history : str, optional
            Your note, added to the new ``history`` line.
        append_dim : str, optional
            The dimension to append along (implies ``mode="a"``).
        region : dict or "auto", optional
            ``{dim: slice}`` to overwrite (implies ``mode="r+"``).
        consolidated : bool, optional
            Write consolidated metadata; by default it is written, for both formats.
        zarr_format : {2, 3}, optional
            Default: zarr's default (3) for new stores, the store's for existing ones.
        storage_options : dict, optional
            Passed to fsspec for URLs.
        encoding : dict, optional
            Per-variable encoding, as for :meth:`xarray.Dataset.to_zarr`; it wins
            over *chunks* and *compressor*.
        num_workers : int, optional
            Threads (or processes) writing chunks; default all cores, and for an
            object store at least zarr's ``async.concurrency`` (its writes wait
            on the network).
        scheduler : {"threads", "synchronous", "processes"} or distributed.Client, optional
            Default None: dask's own rule (the configured scheduler, else the
            active Client, else threads); data already in memory is written by
            local threads.
        progress : bool, optional
            Show a progress bar on stderr while chunks are written.
        compute : bool, default True
            If False, a :class:`dask.delayed.Delayed` is returned whose
            ``.compute()`` writes and returns the report. A new store's template
            (metadata, coordinates, data in memory) is written at once, as in
            xarray, so that region writes can fill it; the ``Delayed`` is then
            the graph of the chunk writes that fill it (one task per stored
            chunk), and its own ``.compute()`` begins the fill, runs them on
            *scheduler* and commits in this process (``dask.compute`` of it
            works on dask's threads; on other processes it is refused). An
            append, a region write or a write to an icechunk session touches
            nothing until then.
        allow_partial_chunks : bool, default False
            Say that no other process writes the stored chunks a region write
            covers only in part: they are then written without locks, on any
            store. Such a chunk is read, patched and rewritten whole, so a
            concurrent writer of its other part could lose data. Without the
            flag, on a local path or a store in memory each such chunk is locked
            while it is written (a failed write undoes only its own part of it),
            and elsewhere (object stores) such a write is refused.
        group : str, optional
            The group to write, a path inside the store, as in xarray. A group
            of a store that exists is written in place under the undo journal,
            so that its other groups stay (``mode="w"`` replaces that group).
        safe_chunks : bool, optional
            Default None: region writes that cover stored chunks in part are
            made safe with chunk locks where the store has them (see
            *allow_partial_chunks*). ``True`` refuses them, as xarray does;
            ``False``, as in xarray, lets dask chunks and region writes cover
            stored chunks in part without a check (it implies
            *allow_partial_chunks*).
        align_chunks : bool, default True
            Rechunk dask data so that every task writes whole stored chunks.
            ``False`` is xarray's default: dask chunks that straddle stored
            chunks are then refused (with *safe_chunks*).
        write_empty_chunks : bool, optional
            As in xarray: whether chunks that hold only the fill value are
            written (zarr's default: they are not).
        chunkmanager_store_kwargs : dict, optional
            Passed to ``dask.array.store``, as in xarray.
        checksums : bool, optional
            Default True (``set_options(checksums=...)``): a crc32c checksum on
            every chunk of new zarr 3 arrays, after the compressor xzarrio
            sets (a name, a codec object, or the codecs a variable was read
            with); never added to codecs given in *encoding*, never twice.
        keepbits : int, dict or "auto", optional
            Round mantissas to this many bits (round to nearest, ties to even)
            before the codec: an int for every floating-point data variable the
            write adds, ``{name: bits}`` per variable, or ``"auto"``: per
            variable the fewest bits that keep *information* of its real
            information (:meth:`bitinformation`, measured on a seeded sample of
            at most 2**22 values). NaN, infinities and zeros stay as they are.
            The bits go into the history line and the CF 1.12 attributes
            ``quantization_nsb`` and ``quantization`` (naming the container
            variable ``quantization_info``); appends and region writes keep
            the store's. Lossy: the error of each value is at most half a unit
            in its last kept bit.
        information : float, default 0.99
            The share of the real information ``keepbits="auto"`` keeps.

        Notes
        -----
        Every write is all or nothing, on every kind of store: a failed or
        interrupted write leaves the store's keys and bytes as they were, and
        no chunk write of the call runs on after it raises. New local stores
        are staged and swapped in; appends, region writes and replacements in
        object stores run under an undo journal (``.NAME.xzarrio-journal``
        beside the store). A process killed outright leaves the journal;
        :func:`xzarrio.open_zarr` then says so, and :func:`xzarrio.repair`
        rolls the store back. See the guarantees page of the docs.

        Every write also records the digest of each chunk it stored, per
        variable in a manifest beside its chunks (``VAR/.xzarrio/``), which
        :func:`xzarrio.verify` checks the data against.

        Returns
        -------
        WriteReport or dask.delayed.Delayed

        Raises
        ------
        FileExistsError
            ``mode="w-"`` and the store exists.
        FileNotFoundError
            A region write (``mode="r+"``) and the store does not exist.
        PermissionError
            The store is read-only (:class:`~xzarrio.errors.StoreNotWritableError`).
        ValueError
            Bad chunks, compressor name, mode, append mismatch or region;
            *keepbits* asked of a variable that is not floating-point.
        TypeError
            Attributes that cannot be stored as JSON, codecs that fit no format.

        Examples
        --------
        >>> import numpy as np, xarray as xr, xzarrio
        >>> path = getfixture("tmp_path") / "wvel.zarr"
        >>> ds = xr.Dataset({"wvel": (("y", "x"), np.zeros((400, 300), "f4"))})
        >>> report = ds.zio.to_zarr(path, chunks={"y": 100}, history="a first try")
        >>> report.variables, report.nbytes
        (('wvel',), 480000)
        >>> report.provenance.history[0].text.endswith("]")
        True
        """
        request = writing.WriteRequest.of(
            mode=mode,
            chunks=chunks,
            compressor=compressor,
            history=history,
            append_dim=append_dim,
            region=region,
            consolidated=consolidated,
            zarr_format=zarr_format,
            storage_options=storage_options,
            encoding=encoding,
            num_workers=num_workers,
            scheduler=scheduler,
            progress=progress,
            compute=compute,
            allow_partial_chunks=allow_partial_chunks,
            group=group,
            safe_chunks=safe_chunks,
            align_chunks=align_chunks,
            write_empty_chunks=write_empty_chunks,
            chunkmanager_store_kwargs=chunkmanager_store_kwargs,
            checksums=checksums,
            keepbits=keepbits,
            information=information,
        )
        return writing.to_zarr(self._obj, store, request)

    def rechunk(
        self,
        store: Any,
        chunks: Mapping[Hashable, int | None] | None = None,
        *,
        max_mem: int | str = "1GiB",
        temp_store: Any = None,
        mode: str = "w-",
        compressor: Any = None,
        zarr_format: int | None = None,
        checksums: bool | None = None,
        history: str | None = None,
        group: str | None = None,
        storage_options: dict[str, Any] | None = None,
        scheduler: Any = None,
        num_workers: int | None = None,
        progress: bool | None = None,
        keepbits: int | Mapping[Hashable, int | str] | str | None = None,
        information: float = 0.99,
    ) -> WriteReport:
        """Write to a new store with new stored chunks, in bounded memory.

        However old and new chunks cross (time steps to time series included),
        the tasks running at once hold at most *max_mem* of data: each reads
        whole source chunks and writes whole target chunks. Where no block
        can do both within that memory, a first pass writes the data to an
        intermediate store in chunks that fit both ways, and the last pass
        reads it from there. Every variable goes across, with its attributes
        and encodings (time units, ``scale_factor``, dtype); the target is
        written as every write is (all or nothing, with a history line naming
        the source, whose trail is kept).

        Parameters
        ----------
        store : str, path, zarr store or icechunk.Session
            The new store, as for :meth:`to_zarr`.
        chunks : dict, optional
            ``{dim: size}``: ``-1`` is the whole dimension; a dim left out or
            mapped to None keeps its current chunks, as :meth:`to_zarr` keeps
            them. A variable that keeps all its chunks keeps its shards too.
        max_mem : int or str, default "1GiB"
            The data all running tasks may hold, in bytes or as ``"500MB"``,
            ``"2GiB"``. A task holds about 4 times its chunk at its peak (read,
            decoded, encoded, written), so a chunk (old or new) over a quarter
            of *max_mem* is refused before anything is written. Where the
            chunks' buffers would not fit once per worker, fewer tasks run at
            once; on a ``distributed.Client``, whose threads all run, that is
            refused too. A variable read in dask chunks smaller than its
            stored ones is counted in the stored ones (each task decodes a
            whole stored chunk): read it with its stored chunks.
        temp_store : str, path or zarr store, optional
            Where the intermediate data goes, if any is needed: default beside
            the target for a path or URL, else a local temporary folder. What
            the rechunk puts there is removed when it ends, also on failure.
        mode : {"w-", "w"}, default "w-"
            Refuse an existing store, or replace it.
        compressor : str or codec, optional
            Default: the codecs each variable was read with.
        zarr_format : {2, 3}, optional
            Default: zarr's default (3).
        checksums : bool, optional
            As for :meth:`to_zarr`: default True, where the target is zarr 3.
        history : str, optional
            Your note, added to the new ``history`` line.
        group, storage_options, scheduler, num_workers, progress, keepbits, information
            As for :meth:`to_zarr`. Variables held in memory are written as
            they are; Python objects (object-dtype strings, cftime dates) in
            dask are moved by dask's own rechunk, in memory.

        Returns
        -------
        WriteReport

        Raises
        ------
        ValueError
            A chunk that cannot fit in *max_mem*
            (:class:`~xzarrio.errors.ChunkMemoryError`), bad chunks or mode.
        FileExistsError
            ``mode="w-"`` and the store exists.

        Examples
        --------
        >>> import numpy as np, xarray as xr, xzarrio
        >>> maps = getfixture("tmp_path") / "maps.zarr"
        >>> ds = xr.Dataset({"t": (("time", "y", "x"), np.ones((40, 30, 20), "f4"))})
        >>> _ = ds.zio.to_zarr(maps, chunks={"time": 1})
        >>> series = xzarrio.open_zarr(maps).zio.rechunk(
        ...     maps.with_name("series.zarr"), {"time": -1, "y": 10, "x": 10}, max_mem="64KiB"
        ... )
        >>> xzarrio.open_zarr(series.store)["t"].encoding["chunks"]
        (40, 10, 10)
        """
        return rechunking.rechunk(
            self._obj, store, chunks, max_mem=max_mem, temp_store=temp_store, mode=mode,
            compressor=compressor, zarr_format=zarr_format, checksums=checksums,
            history=history, group=group, storage_options=storage_options,
            scheduler=scheduler, num_workers=num_workers, progress=progress,
            keepbits=keepbits, information=information,
        )  # fmt: skip

    def reopen(self, **kwargs: Any) -> xr.Dataset:
        """Lazily reopen the store this object was read from.

        Keyword arguments go to :func:`xzarrio.open_zarr`. Raises ``ValueError``
        for an object that came from no store.
        """
        return reading.reopen(self._obj, **kwargs)

    @property
    def provenance(self) -> Provenance:
        """The parsed provenance: from the attributes, else from the store's root."""
        return reading.provenance_of(self._obj)

    def info(self) -> StoreInfo:
        """The storage report of the store this object was read from."""
        return reading.info_of(self._obj)

    def bitinformation(
        self, dim: Hashable | None = None, *, sample: int | None = None
    ) -> xr.Dataset:
        """The real information of each bit of each floating-point variable (Klöwer et al., 2021).

        The mutual information of each bit with the same bit of the neighbouring
        value, along *dim* (default: along each dimension in turn, the largest
        kept), in bits per bit; bits that carry none (the paper's significance
        test at 0.99) are 0. Pairs with a NaN or a zero are left out. Counted
        chunk by chunk in parallel (pairs that straddle two chunks are left
        out); with *sample*, on whole chunks chosen at random (seeded) until
        they hold about that many values.

        Returns
        -------
        xarray.Dataset
            One variable per floating-point variable, along a dimension
            ``bit_<dtype>`` labelled ``±``, ``e1``… (exponent), ``m1``…
            (mantissa); its ``dims`` attribute says along which dimensions.

        Examples
        --------
        >>> from xzarrio.samples import climate_fields
        >>> info = climate_fields(2, 90, 180).zio.bitinformation(sample=50_000)
        >>> info.tas.dims, info.tas.sel(bit_float32="m20").item()
        (('bit_float32',), 0.0)
        """
        ds = (
            self._obj.to_dataset(name=self._obj.name or "values")
            if isinstance(self._obj, xr.DataArray)
            else self._obj
        )
        return information.bitinformation(ds, dim, sample=sample)

    def profile(
        self,
        func: Callable[[Any], Any] | None = None,
        *,
        num_workers: int | None = None,
        scheduler: Any = None,
        dt: float = 0.1,
    ) -> Profiled:
        """Compute ``func(obj)`` (or the object) under dask's profilers.

        Runs on dask's local scheduler, on *num_workers* threads (default all
        cores), under Profiler, ResourceProfiler (a sample every *dt* seconds)
        and CacheProfiler; or, with a ``distributed.Client``, on its cluster,
        from the scheduler's task stream and the workers' metrics and memory.
        The report's ``findings`` say what limits the compute.

        Parameters
        ----------
        func : callable, optional
            Builds the lazy computation from the object, e.g. ``lambda ds: ds.wvel.mean("y")``.
            Functions that release the GIL (numpy ufuncs,
            ``xr.apply_ufunc(..., dask="parallelized")``, numba ``nogil``) run
            on all threads at once.
        num_workers : int, optional
            Threads (or processes); default all cores.
        scheduler : {"threads", "synchronous", "processes"} or distributed.Client, optional
            Default None: dask's own rule (the configured scheduler, else the
            active Client, else threads). ``"synchronous"`` gives a one-thread
            profile. On a Client, ``parallel_efficiency`` is the workers' task
            CPU time over the wall time of all their threads, and ``save_html``
            writes distributed's performance report of the compute.
        dt : float, default 0.1
            Seconds between CPU/memory samples.

        Returns
        -------
        Profiled
            ``(result, report)``: the computed xarray object and a :class:`~xzarrio.ProfileReport`.

        Examples
        --------
        A numpy ufunc applied block-wise releases the GIL, so both threads work:

        >>> import numpy as np, xarray as xr, xzarrio
        >>> field = xr.DataArray(np.random.default_rng(0).random((4000, 500)), dims=("y", "x"))
        >>> lazy = field.chunk({"y": 500})
        >>> result, report = lazy.zio.profile(
        ...     lambda da: xr.apply_ufunc(np.sin, da, dask="parallelized").sum("y"),
        ...     num_workers=2,
        ... )
        >>> result.shape, report.n_tasks > 8, report.n_threads
        ((500,), True, 2)
        """
        return profiling.profile(
            self._obj, func, num_workers=num_workers, scheduler=scheduler, dt=dt
        )

    def reduce(
        self,
        how: str | Callable[..., Any],
        dim: Hashable | list[Hashable] | None = None,
        *,
        transform: Callable[[Any], Any] | None = None,
        num_workers: int | None = None,
        scheduler: Any = None,
        dt: float = 0.1,
    ) -> Profiled:
        """Reduce over *dim*, after an element-wise *transform*, profiled.

        Parameters
        ----------
        how : str or callable
            ``"mean"``, ``"sum"``, ``"std"``, ``"var"``, ``"min"``, ``"max"``,
            ``"median"``, or a function ``f(array, axis=...)`` as for
            :meth:`xarray.DataArray.reduce`.
        dim : str or list, optional
            Dimensions to reduce over; all of them by default.
        transform : callable, optional
            Applied to the object first, e.g. ``lambda x: x**2 + x**3``.
        num_workers, scheduler, dt
            As for :meth:`profile`.

        Returns
        -------
        Profiled
            ``(result, report)``.

        Examples
        --------
        >>> import numpy as np, xarray as xr, xzarrio
        >>> x = xr.DataArray(np.arange(12.0).reshape(4, 3), dims=("y", "x")).chunk({"y": 2})
        >>> result, report = x.zio.reduce("mean", dim="y", transform=lambda v: v**2 + v**3)
        >>> result.values.tolist()
        [274.5, 393.5, 547.5]
        >>> report.n_tasks > 0
        True
        """
        return profiling.reduce(
            self._obj,
            how,
            dim,
            transform=transform,
            num_workers=num_workers,
            scheduler=scheduler,
            dt=dt,
        )

    def graph(
        self,
        func: Callable[[Any], Any] | None = None,
        *,
        filename: str | os.PathLike[str] = "graph.svg",
    ) -> Path:
        """Draw the task graph of ``func(obj)`` (or the object) with graphviz.

        Returns the path written. Raises ``ImportError`` naming what to install
        when the graphviz package or its ``dot`` program is missing.
        """
        return profiling.graph(self._obj, func, filename=filename)
