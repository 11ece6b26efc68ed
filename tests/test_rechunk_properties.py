"""Property-based checks of the rechunk: its plan for any chunks, and values end to end.

The planner's promises, for any shape, old and new chunks and memory that
holds one chunk of each: read blocks are whole source chunks, write blocks
whole target chunks, both within the memory; an intermediate chunk never
straddles two read blocks (no two tasks of the first pass write one chunk).
End to end, small Datasets of 1 to 4 dims in random chunks, rechunked to
random chunks with a random ``max_mem``, read back identical.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import xzarrio
from xzarrio import rechunking
from xzarrio.errors import ChunkMemoryError
from xzarrio.rechunking.layout import layout_of

from .conftest import assert_same_data


@st.composite
def layouts(draw: st.DrawFn) -> tuple[Any, ...]:
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 60)) for _ in range(ndim))
    source = tuple(draw(st.integers(1, n + 3)) for n in shape)
    target = tuple(draw(st.integers(1, n + 3)) for n in shape)
    itemsize = draw(st.sampled_from([1, 4, 8]))
    fits = itemsize * max(
        math.prod(min(c, n) for c, n in zip(source, shape, strict=True)),
        math.prod(min(c, n) for c, n in zip(target, shape, strict=True)),
    )
    block_bytes = draw(st.integers(fits, fits * 40))
    return shape, itemsize, source, target, block_bytes


def whole_multiple(block: int, chunk: int, length: int) -> bool:
    return block == length or (block % min(chunk, length) == 0 and block <= length)


@settings(max_examples=500, deadline=None)
@given(case=layouts())
def test_every_block_is_whole_chunks_within_memory(case: tuple[Any, ...]) -> None:
    shape, itemsize, source, target, block_bytes = case
    plan = layout_of(shape, itemsize, source, target, block_bytes)
    for d, n in enumerate(shape):
        assert whole_multiple(plan.read[d], source[d], n), plan
        assert whole_multiple(plan.write[d], target[d], n), plan
    assert plan.nbytes(plan.read) <= block_bytes and plan.nbytes(plan.write) <= block_bytes
    if plan.intermediate is None:
        assert plan.read == plan.write
        return
    for d, n in enumerate(shape):
        # every boundary of a read block is one of the intermediate chunks
        assert plan.read[d] >= n or plan.read[d] % plan.intermediate[d] == 0, plan
        assert 1 <= plan.intermediate[d] <= n


@st.composite
def rechunk_cases(draw: st.DrawFn) -> dict[str, Any]:
    ndim = draw(st.integers(1, 4))
    dims = ("t", "z", "y", "x")[:ndim]
    shape = tuple(draw(st.integers(1, 9)) for _ in range(ndim))
    stored = {d: draw(st.integers(1, n)) for d, n in zip(dims, shape, strict=True)}
    asked = {
        d: draw(st.sampled_from([-1, None, *range(1, n + 2)]))
        for d, n in zip(dims, shape, strict=True)
        if draw(st.booleans())
    }
    if ndim > 1 and draw(st.booleans()):  # across: steps of whole maps to series of tiles
        stored = {d: 1 if d == dims[0] else n for d, n in zip(dims, shape, strict=True)}
        asked = {d: -1 if d == dims[0] else draw(st.integers(1, 2)) for d in dims}
    return {
        "dims": dims, "shape": shape, "stored": stored, "asked": asked,
        "memory": draw(st.sampled_from([1, 1, 2, 3, 1000])),  # × the largest chunk per worker
        "dtype": draw(st.sampled_from(["f4", "i2", "u1", "f8", "M8[ns]", "bool"])),
        "seed": draw(st.integers(0, 2**16)),
    }  # fmt: skip


def max_mem_of(case: dict[str, Any]) -> int:
    """Room for *memory* times the largest old or new chunk per worker, 2 workers."""
    target = [
        n if case["asked"].get(d) == -1 else case["asked"].get(d) or case["stored"][d]
        for d, n in zip(case["dims"], case["shape"], strict=True)
    ]
    cells = max(math.prod(case["stored"].values()), math.prod(target))
    return 2 * np.dtype(case["dtype"]).itemsize * cells * case["memory"]


def values(dtype: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "M8[ns]":
        return np.datetime64("2000-01-01", "ns") + rng.integers(0, 10**15, shape).astype("m8[ns]")
    if dtype == "bool":
        return rng.random(shape) > 0.5
    return (rng.random(shape) * 100).astype(dtype)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=rechunk_cases())
def test_rechunked_values_are_the_sources(case: dict[str, Any]) -> None:
    dims, shape = case["dims"], case["shape"]
    data = values(case["dtype"], shape, case["seed"])
    ds = xr.Dataset({"v": (dims, data)}, coords={dims[0]: np.arange(shape[0])})
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        ds.zio.to_zarr(root / "src.zarr", chunks=case["stored"], progress=False)
        src = xzarrio.open_zarr(root / "src.zarr")
        try:
            src.zio.rechunk(
                root / "dst.zarr", case["asked"], max_mem=max_mem_of(case), num_workers=2
            )
        except ChunkMemoryError:
            event("refused: a chunk over max_mem ÷ workers")
            return
        plan = rechunking.plan_rechunk(src, case["asked"], max_mem=max_mem_of(case), num_workers=2)
        event(f"{plan.passes} pass(es)")
        out = xzarrio.open_zarr(root / "dst.zarr")
        assert_same_data(out, src)
        for axis, dim in enumerate(dims):
            size = case["asked"].get(dim)
            expected = shape[axis] if size == -1 else case["stored"][dim] if size is None else size
            assert out["v"].encoding["chunks"][axis] == min(expected, shape[axis])
        assert sorted(p.name for p in root.iterdir()) == ["dst.zarr", "src.zarr"]
