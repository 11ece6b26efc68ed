"""``compressor="auto"``: each variable's codec chosen by measuring a sample of its chunks.

The rule, as the docs state it: the candidates (:data:`CANDIDATES`) each
encode the same seeded sample of a variable's stored chunks (a fiftieth of it,
from 1 to 16 MiB, in parts of up to 4 chunks; rounded first to
its kept bits where ``keepbits`` asks it), all at once on the write's threads;
the choice is the candidate that stores the sample smallest among those that
encode it at least :data:`AS_FAST` as fast as the default does, so that
``"auto"`` is never larger than the default on the sample and never much
slower. Variables that are not numbers (times, strings) keep the default.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .codecs import default_name, resolve_compressors
from .rounding import bitround

__all__ = ["AS_FAST", "CANDIDATES", "CodecChoice", "choose_codecs", "pick"]

#: the named codecs ``"auto"`` measures; ``"default"`` gives each variable one of them
CANDIDATES = ("blosc-zstd", "blosc-zstd-bit", "blosc", "zstd", "lz4")
#: a candidate must encode the sample at least this fast, as a share of the rate of the
#: variable's default
AS_FAST = 0.9
#: the sample of one variable: parts of at most this many stored chunks, in all a
#: fiftieth of the variable (each candidate encodes it twice), within these bounds
SAMPLE_CHUNKS = 4
SAMPLE_SHARE = 1 / 50
SAMPLE_BYTES = (2**20, 16 * 2**20)
#: the block measured where a variable has no stored chunks of its own yet
_BLOCK_BYTES = 4 * 2**20


@dataclass(frozen=True)
class CodecChoice:
    """What ``"auto"`` chose for one variable, and the figures it chose by."""

    #: the name of the codec chosen (one of :data:`CANDIDATES`)
    name: str
    #: raw bytes ÷ stored bytes of the sample, per candidate
    ratios: Mapping[str, float]
    #: MB/s of raw data encoded on the write's threads, per candidate
    rates: Mapping[str, float]

    def __str__(self) -> str:
        return f"{self.name} ({self.ratios[self.name]:.2f}x, {self.rates[self.name]:.0f} MB/s)"


def choose_codecs(
    ds: xr.Dataset, names: Sequence[Hashable], layout: Mapping[Hashable, tuple[int, ...]],
    kept: Mapping[Hashable, int], threads: int, compute: Callable[..., tuple[Any, ...]],
    *, seed: int = 0,
) -> dict[Hashable, CodecChoice]:  # fmt: skip
    """The codec of each variable *names* of *ds* that ``"auto"`` picks (see the module)."""
    measured = [n for n in names if _measurable(ds.variables[n])]
    pieces = {n: _sample(ds.variables[n], layout.get(n), seed) for n in measured}
    values = compute(*(piece for parts in pieces.values() for piece in parts))
    choices, start = {}, 0
    for name, parts in pieces.items():
        blocks = [np.ascontiguousarray(v) for v in values[start : start + len(parts)]]
        start += len(parts)
        if name in kept:
            blocks = [bitround(b, kept[name]) for b in blocks]
        choices[name] = _choose(blocks, threads)
    return choices


def _measurable(var: xr.Variable) -> bool:
    """Whether *var* is an array of numbers, where codecs differ (not a scalar, a time,
    a string)."""
    return var.ndim > 0 and var.size > 0 and var.dtype.kind in "fiub"


def _sample(var: xr.Variable, chunks: tuple[int, ...] | None, seed: int) -> list[Any]:
    """Parts of up to :data:`SAMPLE_CHUNKS` stored chunks of *var*, chosen at random with
    *seed*, as lazy pieces of its data: each a chunk's leading part along its first
    axis longer than 1, as much as the sample's share (:data:`SAMPLE_SHARE`,
    :data:`SAMPLE_BYTES`) leaves it."""
    row_bytes = max(1, var.nbytes // max(1, var.shape[0]))
    if chunks is None:
        chunks = (max(1, _BLOCK_BYTES // row_bytes), *var.shape[1:])
    grid = [range(0, size, step) for size, step in zip(var.shape, chunks, strict=True)]
    corners = list(itertools.product(*grid))
    count = min(SAMPLE_CHUNKS, len(corners))
    low, high = SAMPLE_BYTES
    budget = min(high, max(low, int(var.nbytes * SAMPLE_SHARE)))
    # cut along the first axis the chunk spans (a daily chunk of a map: along latitude)
    axis = next((i for i, size in enumerate(chunks) if size > 1), 0)
    slab = int(np.prod(chunks)) // max(1, chunks[axis]) * var.dtype.itemsize
    part = list(chunks)
    part[axis] = max(1, min(chunks[axis], budget // count // max(1, slab)))
    picked = np.random.default_rng(seed).choice(len(corners), size=count, replace=False)
    return [
        var.data[tuple(slice(c, c + step) for c, step in zip(corners[i], part, strict=True))]
        for i in sorted(picked)
    ]


def _choose(blocks: list[np.ndarray], threads: int) -> CodecChoice:
    """Measure every candidate on *blocks* and apply the rule."""
    raw = sum(b.nbytes for b in blocks)
    ratios, rates = {}, {}
    for name in CANDIDATES:
        (codec,) = resolve_compressors(name, 2, blocks[0].dtype)
        seconds, stored = _encode_all(codec, blocks, threads)
        ratios[name] = raw / max(1, stored)
        rates[name] = raw / 1e6 / max(seconds, 1e-9)
    return CodecChoice(pick(ratios, rates, default_name(blocks[0].dtype)), ratios, rates)


def pick(ratios: Mapping[str, float], rates: Mapping[str, float], default: str) -> str:
    """The rule: of the candidates that encode at least :data:`AS_FAST` as fast as the
    variable's *default* codec, the one with the highest ratio (the faster of equals).
    The default is among them, so the choice is never larger.

    Examples
    --------
    >>> ratios = {"blosc-zstd": 1.8, "zstd": 1.2, "lz4": 2.0}
    >>> pick(ratios, {"blosc-zstd": 500, "zstd": 600, "lz4": 100}, "blosc-zstd")  # lz4 slow
    'blosc-zstd'
    """
    fast_enough = [n for n in ratios if rates[n] >= AS_FAST * rates[default]]
    return max(fast_enough, key=lambda n: (ratios[n], rates[n]))


def _encode_all(codec: Any, blocks: list[np.ndarray], threads: int) -> tuple[float, int]:
    """Wall seconds of *codec* encoding *blocks* on *threads* threads at once (the best of
    two rounds), and the bytes it makes."""
    # Blosc runs one thread per call outside the main thread, as in a write's workers
    with ThreadPoolExecutor(max(1, min(threads, len(blocks)))) as pool:
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            encoded = list(pool.map(codec.encode, blocks))
            best = min(best, time.perf_counter() - start)
    return best, sum(len(e) for e in encoded)
