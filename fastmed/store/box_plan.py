"""Which chunks a window reads, as arrays: the chunks a box overlaps, and what a footprint keeps of them.

Shared by the Python chunk loop (:mod:`fastmed.store.window`) and the native one
(:mod:`fastmed.store.native_read`), which hands these arrays to C++ as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

SLAB = 4
"""z-slices per footprint test inside a chunk (blosc blocks hold whole z-slices of a chunk), unless told the block's."""

Ints = npt.NDArray[np.int64]


class BoxTest(Protocol):
    """What a window read asks a footprint: which boxes of the array its owner reads."""

    def touches_boxes(self, lo: npt.ArrayLike, hi: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Per box ``[lo[i], hi[i])`` (array coordinates), whether any of its voxels is read."""
        ...


def box_chunks(chunks: Sequence[int], lo: Sequence[int], hi: Sequence[int]) -> tuple[Ints, Ints, Ints]:
    """The chunks the non-empty box ``[lo, hi)`` overlaps, in C order.

    Returns ``(idx, first, last)``, each ``(N, ndim)``: chunk index, and the overlap
    ``[first, last)`` in array coordinates.
    """
    c = np.asarray(chunks, dtype=np.int64)
    ranges = [np.arange(a // n, -(-b // n), dtype=np.int64) for a, b, n in zip(lo, hi, chunks, strict=True)]
    idx = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, len(chunks))
    first = np.maximum(idx * c, np.asarray(lo, dtype=np.int64))
    last = np.minimum((idx + 1) * c, np.asarray(hi, dtype=np.int64))
    return idx, first, last


def trim(iz: Ints, first: Ints, last: Ints, depth: int, touches: BoxTest, slab: int = SLAB) -> tuple[Ints, Ints, Ints]:
    """Of the chunk overlaps ``[first, last)`` (chunks ``iz`` along z, ``depth`` deep), those ``touches`` reads.

    Every overlap it meets is cut into slabs of ``slab`` z-slices (aligned to the chunk's
    start, as its blosc blocks are), tested in one call. A slab of a blosc block's z-slices keeps
    the same blocks to decode as any finer one, with fewer tests. Returns ``(keep, z0, z1)``: indices of
    the overlaps read and, for each, the z-range ``[z0, z1)`` (array coordinates) of its kept slabs.
    """
    keep = np.flatnonzero(np.asarray(touches.touches_boxes(first, last), dtype=bool))
    if not len(keep):
        return keep, keep, keep
    z0s, z1s = first[keep, 0], last[keep, 0]
    c0s = iz[keep] * int(depth)
    s0s = c0s + (z0s - c0s) // slab * slab  # first slab's start
    count = -(-(z1s - s0s) // slab)
    offset = np.concatenate([[0], np.cumsum(count)])
    owner = np.repeat(np.arange(len(keep)), count)
    a, b = first[keep][owner], last[keep][owner]
    local = np.arange(len(owner)) - offset[owner]  # slab number inside its overlap
    starts = s0s[owner] + local * slab
    a[:, 0] = np.maximum(starts, z0s[owner])
    b[:, 0] = np.minimum(starts + slab, z1s[owner])
    hit = np.asarray(touches.touches_boxes(a, b), dtype=bool)
    lo_hit = np.minimum.reduceat(np.where(hit, local, len(owner)), offset[:-1])  # first kept slab per overlap
    hi_hit = np.maximum.reduceat(np.where(hit, local, -1), offset[:-1])  # last kept slab
    t0s = np.maximum(s0s + lo_hit * slab, z0s)
    t1s = np.minimum(s0s + (hi_hit + 1) * slab, z1s)
    met = hi_hit >= 0
    return keep[met], t0s[met], t1s[met]


def narrowed(
    idx: Ints, first: Ints, last: Ints, depth: int, touches: BoxTest | None, slab: int = SLAB
) -> tuple[Ints, Ints, Ints]:
    """``(idx, first, last)`` of :func:`box_chunks` cut to what ``touches`` reads (all of it when ``None``)."""
    if touches is None or not len(idx):
        return idx, first, last
    keep, z0, z1 = trim(idx[:, 0], first, last, depth, touches, slab)
    first, last = first[keep], last[keep]
    first[:, 0], last[:, 0] = z0, z1
    return idx[keep], first, last
