"""A pytest plugin: xarray's zarr tests with every write and open through xzarrio.

Loaded with ``-p tests.xarray_suite.plugin`` into a pytest run of the
installed ``xarray.tests.test_backends``. With ``XZARRIO_SUITE=xarray`` in the
environment it changes nothing (the baseline: what passes with plain
xarray); otherwise every ``Dataset.to_zarr`` and ``DataArray.to_zarr`` call
goes to ``.zio.to_zarr`` with the same arguments, and every ``open_zarr`` and
``open_dataset(engine="zarr")`` to :func:`xzarrio.open_zarr`, the provenance
attributes taken off what it returns (xarray's tests compare attributes).
xzarrio's own calls of xarray, made inside those, go to xarray itself.

Each test's outcome is appended, one JSON object per line, to the file named
by ``XZARRIO_SUITE_LOG``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest
import xarray as xr
import zarr

import xzarrio
from xzarrio.provenance import PROVENANCE_KEYS
from xzarrio.stores import is_zarr_dir, local_path

ROUTED = os.environ.get("XZARRIO_SUITE", "xzarrio") != "xarray"


def _routed(original: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Route a call to the decorated function, unless xzarrio's own code makes it.

    The caller is told by its module, not by a flag of the thread: xzarrio
    calls xarray from other threads too (a deferred write runs in dask's).
    """

    def wrap(route: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def call(*args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller == "xzarrio" or caller.startswith("xzarrio."):
                return original(*args, **kwargs)
            return route(*args, **kwargs)

        return call

    return wrap


def _named(args: tuple[Any, ...], names: tuple[str, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """*kwargs* with the positional *args* under their *names*."""
    return {**dict(zip(names, args, strict=False)), **kwargs}


def _without_provenance(ds: xr.Dataset) -> xr.Dataset:
    for key in PROVENANCE_KEYS:
        ds.attrs.pop(key, None)
    return ds


def _to_zarr(obj: Any, store: Any = None, *args: Any, **kwargs: Any) -> Any:
    kwargs = _named(args, ("mode", "group", "encoding"), kwargs)
    kwargs.pop("synchronizer", None)  # a no-op in zarr 3
    if kwargs.get("mode") is None:
        kwargs.pop("mode", None)
    return obj.zio.to_zarr(store, **kwargs)


def _open_zarr(store: Any, *args: Any, **kwargs: Any) -> xr.Dataset:
    kwargs = _named(args, ("group", "synchronizer", "chunks"), kwargs)
    return _without_provenance(xzarrio.open_zarr(store, **kwargs))


def _open_dataset(original: Callable[..., Any]) -> Callable[..., Any]:
    def route(filename_or_obj: Any, *args: Any, **kwargs: Any) -> Any:
        engine = kwargs.get("engine") or ("zarr" if _is_zarr(filename_or_obj) else None)
        if args or engine != "zarr":
            return original(filename_or_obj, *args, **kwargs)
        kwargs.pop("engine", None)
        if kwargs.get("mode") == "r":
            del kwargs["mode"]  # open_dataset's way to say "read"; open_zarr only reads
        kwargs.update(kwargs.pop("backend_kwargs", None) or {})
        kwargs.setdefault("chunks", None)  # open_dataset's default: no dask
        return _without_provenance(xzarrio.open_zarr(filename_or_obj, **kwargs))

    return route


def _is_zarr(target: Any) -> bool:
    """Whether xarray would open *target* with its zarr engine when none is named."""
    if isinstance(target, zarr.abc.store.Store):
        return True
    path = local_path(target)
    return path is not None and is_zarr_dir(path)


def pytest_configure(config: pytest.Config) -> None:
    if not ROUTED:
        return
    xr.Dataset.to_zarr = _routed(xr.Dataset.to_zarr)(_to_zarr)  # type: ignore[method-assign]
    xr.DataArray.to_zarr = _routed(xr.DataArray.to_zarr)(_to_zarr)  # type: ignore[method-assign]
    xr.open_zarr = _routed(xr.open_zarr)(_open_zarr)
    xr.open_dataset = _routed(xr.open_dataset)(_open_dataset(xr.open_dataset))
    # the test module's own names, imported from xarray before this ran
    from xarray.tests import test_backends

    test_backends.open_dataset = xr.open_dataset


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Log the call of every test, and the setup of those that never got to it."""
    log = os.environ.get("XZARRIO_SUITE_LOG")
    if log is None or (report.when != "call" and report.passed):
        return
    text = str(report.longrepr) if report.failed else ""
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    entry = {
        "test": report.nodeid,
        "when": report.when,
        "outcome": "xfailed" if hasattr(report, "wasxfail") else report.outcome,
        "message_only": "Regex pattern did not match" in text,
        "error": (errors[0] if errors else text.strip()[-300:])[:300],
    }
    with open(log, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")
