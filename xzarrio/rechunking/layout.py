"""The blocks a rechunk reads and writes: one or two passes that each fit in memory.

The plan follows rechunker's published algorithm. A task of the first pass
reads a block made of whole source chunks; a task of the last pass writes a
block made of whole target chunks; each block holds at most ``block_bytes``.
Where one block can be both (a common multiple of the two chunk shapes fits),
one pass goes straight from source to target. Otherwise the first pass writes
an intermediate array whose chunks divide its read blocks, and the second
reads the intermediate array in the target's blocks: every chunk of every
array is then written by exactly one task, so no two tasks share one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ONE_PASS_BLOCK_BYTES", "ArrayLayout", "layout_of"]

Shape = tuple[int, ...]

#: one pass's blocks grow to this size at most (whole chunks, at least one): large
#: enough that small chunks do not cost a task each, small enough that a copy streams
ONE_PASS_BLOCK_BYTES = 32 * 2**20


@dataclass(frozen=True, kw_only=True)
class ArrayLayout:
    """How one array is rechunked."""

    #: the array's shape and the bytes of one element
    shape: Shape
    itemsize: int
    #: the chunks it is read in, and the chunks it is stored in
    source: Shape
    target: Shape
    #: the first pass's blocks: whole source chunks, read by one task each
    read: Shape
    #: the intermediate array's chunks, or None where one pass goes straight across
    intermediate: Shape | None
    #: the last pass's blocks: whole target chunks, written by one task each
    write: Shape

    @property
    def passes(self) -> int:
        """1 where the data goes straight to the target, 2 through the intermediate array."""
        return 1 if self.intermediate is None else 2

    def nbytes(self, block: Shape) -> int:
        """The bytes of one block of this array."""
        return self.itemsize * math.prod(block)


def layout_of(
    shape: Sequence[int], itemsize: int, source: Sequence[int], target: Sequence[int],
    block_bytes: int,
) -> ArrayLayout:  # fmt: skip
    """The passes that rechunk an array from *source* to *target* chunks in blocks of
    at most *block_bytes* (a chunk over that is the caller's to refuse).

    >>> plan = layout_of((2000, 250, 500), 4, (10, 250, 500), (1000, 50, 50), 32 * 2**20)
    >>> plan.read, plan.intermediate, plan.write
    ((50, 250, 500), (50, 50, 100), (1000, 50, 100))
    >>> layout_of((100, 100), 8, (10, 100), (20, 50), 2**20).passes
    1
    """
    shape = tuple(int(n) for n in shape)
    source = _clipped(source, shape)
    target = _clipped(target, shape)
    if 0 in shape:  # no data: one empty block
        return ArrayLayout(
            shape=shape, itemsize=itemsize, source=source, target=target,
            read=target, intermediate=None, write=target,
        )  # fmt: skip
    common = tuple(min(math.lcm(s, t), n) for s, t, n in zip(source, target, shape, strict=True))
    if itemsize * math.prod(common) <= block_bytes:
        # one pass streams: blocks grow only to spare small chunks a task each
        grow_to = min(block_bytes, max(ONE_PASS_BLOCK_BYTES, itemsize * math.prod(common)))
        block = _grown(common, shape, itemsize, grow_to, range(len(shape)), None)
        return ArrayLayout(
            shape=shape, itemsize=itemsize, source=source, target=target,
            read=block, intermediate=None, write=block,
        )  # fmt: skip
    # the write blocks grow along the dims the source is longer in, the read blocks
    # along those the target is longer in: toward each other, so the chunks between
    # them (dividing both) come out large
    dims = range(len(shape))
    write = _grown(
        target, shape, itemsize, block_bytes, [d for d in dims if source[d] > target[d]], source
    )
    read = _grown(
        source, shape, itemsize, block_bytes, [d for d in dims if target[d] > source[d]], write
    )
    between = tuple(_between(r, w, n) for r, w, n in zip(read, write, shape, strict=True))
    return ArrayLayout(
        shape=shape, itemsize=itemsize, source=source, target=target,
        read=read, intermediate=between, write=write,
    )  # fmt: skip


def _clipped(chunks: Sequence[int], shape: Shape) -> Shape:
    return tuple(max(1, min(int(c), n)) for c, n in zip(chunks, shape, strict=True))


def _grown(
    block: Shape, shape: Shape, itemsize: int, block_bytes: int, dims: Sequence[int],
    toward: Shape | None,
) -> Shape:  # fmt: skip
    """*block* grown by whole multiples along *dims* (the last first) within *block_bytes*.

    With *toward*, each dim grows no further than needed to cover that block's
    length, and by the multiple that shares the longest divisor with it.
    """
    sizes = list(block)
    for d in reversed(list(dims)):
        others = itemsize * math.prod(sizes) // sizes[d]
        most = max(1, min(block_bytes // max(others * sizes[d], 1), math.ceil(shape[d] / sizes[d])))
        if toward is not None:
            most = min(most, math.ceil(toward[d] / sizes[d]))
            factor = max(range(1, most + 1), key=lambda k: (math.gcd(k * sizes[d], toward[d]), k))
        else:
            factor = most
        sizes[d] = min(sizes[d] * factor, shape[d])
    return tuple(sizes)


def _between(read: int, write: int, length: int) -> int:
    """The intermediate chunk along one dim: the longest that divides the read blocks
    (so that no two tasks of the first pass share a chunk) and is no longer than the
    write blocks (so that the last pass reads each chunk about once)."""
    if read >= length:
        return min(write, length)
    if read <= write:
        return read
    return max(d for d in _divisors(read) if d <= write)


def _divisors(n: int) -> set[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return {*small, *(n // d for d in small)}
