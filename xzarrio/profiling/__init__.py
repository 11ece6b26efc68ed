"""Profiled computes: ``.zio.profile``, ``.zio.reduce`` and ``.zio.graph``.

This module checks the arguments and sends the compute to one of two runs:
:mod:`.local` on dask's local schedulers, :mod:`.cluster` on a
``distributed.Client``. Both sum up what they measured in :mod:`.report`'s
:class:`~xzarrio.ProfileReport`, whose ``findings`` come from the rules of
:mod:`.findings` and whose pictures are drawn by :mod:`.timeline`. The imports
go one way: this module → ``local``, ``cluster`` → ``report`` → ``findings``,
``timeline``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import dask.base
import xarray as xr

from ..errors import InvalidArgumentError, MissingDependencyError
from ..options import resolve_num_workers
from ..running import is_distributed_client, resolve_scheduler
from .cluster import profile_on_client
from .local import profile_locally
from .report import Profiled, ProfileReport, TaskKind

__all__ = ["REDUCTIONS", "ProfileReport", "Profiled", "TaskKind", "graph", "profile", "reduce"]

#: the reductions ``reduce`` knows by name
REDUCTIONS = ("mean", "sum", "std", "var", "min", "max", "median")


def profile(
    obj: Any,
    func: Callable[[Any], Any] | None = None,
    *,
    num_workers: int | None = None,
    scheduler: Any = None,
    dt: float = 0.1,
) -> Profiled:
    """Compute ``func(obj)`` (or *obj*) under dask's profilers; see ``.zio.profile``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from xzarrio import profiling
    >>> x = xr.DataArray(np.arange(8.0), dims="t").chunk({"t": 2})
    >>> result, report = profiling.profile(x, lambda d: d.sum(), scheduler="synchronous")
    >>> float(result), report.n_threads, report.scheduler
    (28.0, 1, 'synchronous')
    """
    chosen = resolve_scheduler(scheduler)
    workers = resolve_num_workers(num_workers)
    if not (isinstance(dt, int | float) and dt > 0):
        raise InvalidArgumentError(f"dt must be a number of seconds > 0, got {dt!r}")
    target = func(obj) if func is not None else obj
    if not is_distributed_client(chosen):
        return profile_locally(target, scheduler=str(chosen), workers=workers, dt=dt)
    if num_workers is not None:
        raise InvalidArgumentError(
            f"num_workers={num_workers!r} sets local threads, but this compute runs on "
            "a distributed.Client (scheduler=None follows dask's rule: the active "
            "Client); pass scheduler='threads' to profile it here, or leave num_workers "
            "out"
        )
    return profile_on_client(chosen, target, dt)


def reduce(
    obj: xr.Dataset | xr.DataArray,
    how: str | Callable[..., Any],
    dim: Hashable | list[Hashable] | None = None,
    *,
    transform: Callable[[Any], Any] | None = None,
    num_workers: int | None = None,
    scheduler: Any = None,
    dt: float = 0.1,
) -> Profiled:
    """Apply *transform* element-wise, reduce with *how* over *dim*, profiled."""
    if isinstance(how, str):
        if how not in REDUCTIONS:
            raise InvalidArgumentError(
                f"unknown reduction {how!r}; expected one of {list(REDUCTIONS)} or a callable "
                "f(array, axis=...)"
            )
    elif not callable(how):
        raise InvalidArgumentError(f"how must be a reduction name or a callable, got {how!r}")
    dims: list[Hashable] = (
        [] if dim is None else list(dim) if isinstance(dim, list | tuple) else [dim]
    )
    missing = [d for d in dims if d not in obj.dims]
    if missing:
        raise InvalidArgumentError(
            f"cannot reduce over {missing}: the object's dimensions are {list(obj.dims)}"
        )

    def compute_this(o: Any) -> Any:
        values = transform(o) if transform is not None else o
        if isinstance(how, str):
            return getattr(values, how)(dim=dim)
        return values.reduce(how, dim=dim)

    return profile(obj, compute_this, num_workers=num_workers, scheduler=scheduler, dt=dt)


def graph(
    obj: Any,
    func: Callable[[Any], Any] | None = None,
    *,
    filename: str | os.PathLike[str] = "graph.svg",
) -> Path:
    """Draw the task graph of ``func(obj)`` (or *obj*) with graphviz; see ``.zio.graph``."""
    target = func(obj) if func is not None else obj
    if not dask.base.is_dask_collection(target):
        raise InvalidArgumentError(
            "nothing to draw: the object holds no dask graph (it is in memory); open it with "
            "xzarrio.open_zarr or .chunk() it first"
        )
    try:
        import graphviz  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "drawing the task graph needs the graphviz Python package: "
            "pip install graphviz (and the Graphviz 'dot' program)"
        ) from None
    path = Path(filename).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".") or "svg"
    try:
        dask.base.visualize(target, filename=str(path.with_suffix("")), format=fmt)
    except Exception as error:
        if type(error).__name__ == "ExecutableNotFound":
            raise MissingDependencyError(
                "drawing the task graph needs the Graphviz 'dot' program, which is not on PATH: "
                "install Graphviz (apt install graphviz, brew install graphviz or "
                "conda install graphviz)"
            ) from None
        raise
    return path
