"""The bitwise real information of floating-point data (Klöwer et al., 2021).

The real information of a bit is the mutual information between that bit of a
value and the same bit of its neighbour along a dimension: a bit that is noise
tells nothing about its neighbour's, one that follows the field's large-scale
structure does. Bits whose information a random pairing of that many values
would reach with probability 0.01 (the paper's binomial significance test) are
set to zero. The mantissa bits to keep are the fewest whose cumulative
information, counted from the sign bit down, holds a share ``information`` of
the total.

Pairs in which a value is NaN or zero are left out: rounding keeps both as
they are, and a field that is zero on most points (precipitation) would
otherwise show every bit informative, because two zeros share all their bits.

The counts behind it are summed over the chunks of the data, each chunk on a
worker: the pairs that straddle two chunks are left out, a few in a million.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import dask.array
import numpy as np
import xarray as xr
from dask.base import compute as dask_compute
from dask.delayed import delayed

from .errors import InvalidArgumentError
from .rounding import MANTISSA_BITS, UNSIGNED

__all__ = ["AUTO_SAMPLE", "auto_keepbits", "bit_labels", "bitinformation", "keepbits_for"]

#: the confidence of the significance test (Klöwer et al., 2021, Methods)
CONFIDENCE = 0.99
_Z = 2.5758293035489004  # the two-sided normal quantile of CONFIDENCE
#: the bits of every byte value 0..255, little-endian: row v holds the bits of v
_BYTE_BITS = np.unpackbits(
    np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little"
).astype(np.int64)
#: values counted at once (bounds the counting's temporary memory)
_BLOCK = 2**20


def bit_labels(dtype: Any) -> list[str]:
    """The names of the bits of *dtype*, from the most significant: sign, exponent, mantissa."""
    size = np.dtype(dtype).itemsize
    mantissa = MANTISSA_BITS[size]
    exponent = 8 * size - 1 - mantissa
    return [
        "±",
        *(f"e{i}" for i in range(1, exponent + 1)),
        *(f"m{i}" for i in range(1, mantissa + 1)),
    ]


def _bit_counts(bits: np.ndarray) -> np.ndarray:
    """How many of *bits* (unsigned integers) have each bit set, most significant first."""
    size = bits.dtype.itemsize
    flat = np.ascontiguousarray(bits).reshape(-1)
    total = np.zeros(8 * size, np.int64)
    for start in range(0, flat.size, _BLOCK):
        octets = flat[start : start + _BLOCK].view(np.uint8).reshape(-1, size)
        for byte in range(size):
            histogram = np.bincount(octets[:, byte], minlength=256)
            total[8 * byte : 8 * byte + 8] += histogram @ _BYTE_BITS
    return total[::-1]


def _pair_counts(block: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """For each axis, the counts of adjacent pairs along it: ``[pairs, first set, second
    set, both set]`` per bit (an array of axes x 4 x bits); pairs with a NaN or a zero
    are left out."""
    values = np.asarray(block)
    values = values.astype(values.dtype.newbyteorder("="), copy=False)
    bits = values.view(UNSIGNED[values.dtype.itemsize])
    out = np.zeros((len(axes), 4, 8 * values.dtype.itemsize), np.int64)
    valid = ~np.isnan(values) & (values != 0)
    every = _bit_counts(bits) if valid.all() else None
    for i, axis in enumerate(axes):
        if values.shape[axis] < 2:
            continue
        head = _along(axis, slice(0, -1))
        tail = _along(axis, slice(1, None))
        first, second = bits[head], bits[tail]
        if every is not None:  # all pairs count: a side's counts are all but one edge's
            out[i, 0] = first.size
            out[i, 1] = every - _bit_counts(bits[_along(axis, slice(-1, None))])
            out[i, 2] = every - _bit_counts(bits[_along(axis, slice(0, 1))])
        else:
            kept = valid[head] & valid[tail]
            first, second = first[kept], second[kept]
            out[i, 0] = first.size
            out[i, 1], out[i, 2] = _bit_counts(first), _bit_counts(second)
        out[i, 3] = _bit_counts(first & second)
    return out


def _along(axis: int, part: slice) -> tuple[slice, ...]:
    """The index of *part* along *axis*, all of every axis before it."""
    return (slice(None),) * axis + (part,)


def _information(counts: np.ndarray) -> np.ndarray:
    """Mutual information (bits) of each bit with its neighbour's, from pair counts
    ``[pairs, first set, second set, both set]``; insignificant ones are 0."""
    n = counts[..., 0, :].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = counts[..., 1, :] / n
        q1 = counts[..., 2, :] / n
        p11 = counts[..., 3, :] / n
        joint = np.stack([1 - p1 - q1 + p11, p1 - p11, q1 - p11, p11])
        margins = np.stack([(1 - p1) * (1 - q1), p1 * (1 - q1), (1 - p1) * q1, p1 * q1])
        terms = np.where(joint > 0, joint * np.log2(joint / margins), 0.0)
        info = np.nan_to_num(terms.sum(axis=0))
        p = 0.5 + _Z / (2 * np.sqrt(n))
        free = 1 + p * np.log2(p) + (1 - p) * np.log2(1 - p)
    return np.where((info > np.nan_to_num(free, nan=np.inf)) & (n > 0), info, 0.0)


def _largest_information(per_dim: np.ndarray) -> np.ndarray:
    """Each bit's information along the dimension where it is largest; 0 where there
    is none to count along (a scalar)."""
    largest: np.ndarray = _information(per_dim).max(axis=0, initial=0.0)
    return largest


def keepbits_for(info: np.ndarray, dtype: Any, information: float) -> int:
    """The fewest mantissa bits of *dtype* whose cumulative information *info* (per bit,
    sign first) holds *information* of the total; all of them if no bit holds any, and
    at least one (CF 1.12's ``quantization_nsb`` starts at 1, as netCDF's BitRound does).

    Examples
    --------
    >>> info = np.zeros(32)
    >>> info[[1, 2, 9, 10, 11]] = [0.9, 0.5, 0.8, 0.5, 0.1]  # two exponent, three mantissa
    >>> keepbits_for(info, "float32", 0.99), keepbits_for(info, "float32", 0.9)
    (3, 2)
    """
    mantissa = MANTISSA_BITS[np.dtype(dtype).itemsize]
    total = float(np.sum(info))
    if total <= 0:
        return mantissa
    share = np.cumsum(info) / total
    needed = int(np.argmax(share >= information - 1e-12)) + 1
    return int(np.clip(needed - (len(info) - mantissa), 1, mantissa))


def _sampled(var: xr.Variable, sample: int | None, seed: int) -> list[Any]:
    """The blocks of *var* to count: all of them, or where it holds more than *sample*
    values, whole blocks chosen at random (seeded) until they hold about *sample*.
    Data in memory is cut (as views, not copied) into blocks of about an eighth of
    *sample* along its first dimension."""
    blocks, sizes = _blocks(var, sample)
    if sample is None or var.size <= sample:
        return blocks
    chosen, held = [], 0
    for i in np.random.default_rng(seed).permutation(len(blocks)):
        chosen.append(blocks[i])
        held += sizes[i]
        if held >= sample:
            break
    return chosen


def _blocks(var: xr.Variable, sample: int | None) -> tuple[list[Any], list[int]]:
    """*var*'s dask blocks, or views of its data in memory; and the values each holds."""
    if var.chunks is None:
        values = np.asarray(var.values)
        if values.ndim == 0:
            return [values], [values.size]
        per_row = max(1, values.size // max(1, values.shape[0]))
        rows = max(1, (sample or values.size) // 8 // per_row)
        views = [values[i : i + rows] for i in range(0, values.shape[0], rows)]
        return views, [v.size for v in views]
    array = var.data
    assert isinstance(array, dask.array.Array)
    where = list(np.ndindex(*array.numblocks))
    sizes = [int(np.prod([c[i] for c, i in zip(array.chunks, w, strict=True)])) for w in where]
    return [array.blocks[w] for w in where], sizes


def information_counts(
    ds: xr.Dataset, names: Sequence[Hashable], dims: Sequence[Hashable] | None,
    sample: int | None, *, seed: int = 0, compute: Any = dask_compute,
) -> dict[Hashable, tuple[tuple[Hashable, ...], np.ndarray]]:  # fmt: skip
    """Per variable, the dimensions counted along and their pair counts (dims x 4 x bits)."""
    pending = {}
    for name in names:
        var = ds.variables[name]
        along = tuple(var.dims if dims is None else (d for d in dims if d in var.dims))
        axes = [var.dims.index(d) for d in along]
        blocks = _sampled(var, sample, seed)
        pending[name] = (along, [delayed(_pair_counts)(b, axes) for b in blocks])
    (counted,) = compute({n: parts for n, (_, parts) in pending.items()})
    return {n: (pending[n][0], np.sum(parts, axis=0)) for n, parts in counted.items()}


def bitinformation(
    ds: xr.Dataset, dim: Hashable | None = None, *, sample: int | None = None,
    compute: Any = dask_compute,
) -> xr.Dataset:  # fmt: skip
    """The real information of each bit of each floating-point variable of *ds*.

    Along *dim*, or along each of a variable's dimensions in turn, the largest
    information of each bit kept. With *sample*, whole chunks chosen at random
    (seeded) until they hold about that many values; else all the data.
    """
    floating = [n for n, v in ds.data_vars.items() if v.dtype.kind == "f"]
    if not floating:
        raise InvalidArgumentError(
            f"bitinformation measures floating-point variables; this Dataset has none "
            f"(its data variables: {list(ds.data_vars)})"
        )
    if dim is not None and dim not in ds.dims:
        raise InvalidArgumentError(f"dim={dim!r} is not a dimension of the Dataset {list(ds.dims)}")
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int)):
        raise InvalidArgumentError(f"sample must be a number of values, got {sample!r}")
    along = None if dim is None else [dim]
    counts = information_counts(ds, floating, along, sample, compute=compute)
    out = {}
    for name, (dims, per_dim) in counts.items():
        dtype = ds.variables[name].dtype
        bit = f"bit_{dtype}"
        out[name] = xr.DataArray(
            _largest_information(per_dim),
            dims=(bit,),
            coords={bit: bit_labels(dtype)},
            attrs={"dims": [str(d) for d in dims], "pairs": int(per_dim[:, 0].max(initial=0))},
        )
    return xr.Dataset(out, attrs={"confidence": CONFIDENCE})


#: the values ``keepbits="auto"`` measures per variable at most (whole chunks, seeded):
#: a million pairs put the significance threshold near 5e-6 bits
AUTO_SAMPLE = 2**20


def auto_keepbits(
    ds: xr.Dataset, names: Sequence[Hashable], information: float, compute: Any = dask_compute
) -> dict[Hashable, int]:
    """The fewest mantissa bits of each variable *names* that keep *information* of its
    real information, measured along each of its dimensions on a seeded sample."""
    counts = information_counts(ds, names, None, AUTO_SAMPLE, compute=compute)
    return {
        name: keepbits_for(_largest_information(per_dim), ds.variables[name].dtype, information)
        for name, (_, per_dim) in counts.items()
    }
