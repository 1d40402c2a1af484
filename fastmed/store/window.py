"""Window reads from the store: only the chunks a box overlaps, decoded in parallel into one buffer.

:func:`read_window` lists the chunks a half-open box overlaps, and decodes them on fastmed's
native thread pool (:func:`fastmed.dicom._pool.map_chunks`): each thread takes the next chunk
not yet claimed, reads its file into a reused buffer, checks its crc32c, decompresses into a
reused scratch chunk only the blosc blocks holding the slices the box needs (the file read,
crc32c, blosc and the numpy copy all release the GIL) and copies the overlap into the
preallocated window. No zarr-python on this path: its per-call overhead was several times the raw decode
(``docs/store_format.md``, "Reading windows"). :class:`StoreVolume` is the
:class:`~fastmed.volume_source.LazyVolume` handle on one array of a series.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.store import chunks as _chunks
from fastmed.store import layout
from fastmed.store.chunks import ArrayInfo, array_info


def check_box(shape: Sequence[int], lo: Sequence[int], hi: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``lo`` and ``hi`` as int tuples; ``ValueError`` unless ``0 <= lo <= hi <= shape`` per axis."""
    a, b = tuple(int(v) for v in lo), tuple(int(v) for v in hi)
    if len(a) != len(shape) or len(b) != len(shape):
        raise ValueError(f"box of {len(a)}/{len(b)} dims for a {len(shape)}-D volume")
    if not all(0 <= x <= y <= s for x, y, s in zip(a, b, shape, strict=True)):
        raise ValueError(f"box [{a}, {b}) is not inside the volume of shape {tuple(shape)}")
    return a, b


def chunks_in_box(info: ArrayInfo, lo: Sequence[int], hi: Sequence[int]) -> list[tuple[int, ...]]:
    """Indices of the chunks the box ``[lo, hi)`` overlaps (none for an empty box), in C order."""
    if any(a >= b for a, b in zip(lo, hi, strict=True)):
        return []
    ranges = [range(a // c, -(-b // c)) for a, b, c in zip(lo, hi, info.chunks, strict=True)]
    return list(itertools.product(*ranges))


def read_window(
    info: ArrayInfo,
    lo: Sequence[int],
    hi: Sequence[int],
    threads: int | None = None,
    out: npt.NDArray[Any] | None = None,
) -> npt.NDArray[Any]:
    """The box ``[lo, hi)`` of an array, decoding only the chunks it overlaps.

    Parameters
    ----------
    info
        The array (:meth:`fastmed.store.Store.info` or :func:`fastmed.store.chunks.array_info`).
    lo, hi
        Half-open box per axis, inside the array.
    threads
        Native threads (``None`` or ``<= 0``: the pool's size); chunks are split among them.
    out
        C-contiguous array of shape ``hi - lo`` and the array's dtype to fill (else a new one).

    Returns
    -------
    numpy.ndarray
        C-contiguous, native byte order.

    Raises
    ------
    CacheError
        A chunk inside the box is missing or corrupt (named by series, array and chunk index).
        Chunks outside the box are never opened.
    """
    from fastmed.dicom._pool import map_chunks, workers

    a, b = check_box(info.shape, lo, hi)
    dtype = info.dtype.newbyteorder("=")
    want = tuple(y - x for x, y in zip(a, b, strict=True))
    if out is None:
        out = np.empty(want, dtype=dtype)
    elif out.shape != want or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {dtype} array of shape {want}")
    plan = [_overlap(idx, a, b, info.chunks) for idx in chunks_in_box(info, a, b)]
    if not plan:
        return out
    n = workers(threads, len(plan))
    claim = itertools.count()  # next chunk to decode; threads take chunks as they finish (uneven costs)
    failed: list[bool] = []

    def run(_: int) -> None:
        s = _chunks.take_scratch(info)
        try:
            for j in claim:
                if j >= len(plan) or failed:
                    return
                idx, src, dst, rows = plan[j]
                try:
                    chunk = _chunks.decode_chunk(info, idx, s.chunk, rows, s)
                except BaseException:
                    failed.append(True)
                    raise
                out[dst] = chunk[src]
        finally:
            _chunks.give_scratch(s)

    map_chunks(run, range(n), n)
    return out


def _overlap(
    idx: tuple[int, ...], lo: Sequence[int], hi: Sequence[int], chunks: Sequence[int]
) -> tuple[tuple[int, ...], tuple[slice, ...], tuple[slice, ...], tuple[int, int]]:
    """Chunk ``idx``: its part inside the box (chunk slices, window slices) and the first-axis rows needed."""
    src, dst = [], []
    for i, x, y, c in zip(idx, lo, hi, chunks, strict=True):
        s, e = max(x, i * c), min(y, (i + 1) * c)
        src.append(slice(s - i * c, e - i * c))
        dst.append(slice(s - x, e - x))
    return idx, tuple(src), tuple(dst), (src[0].start, src[0].stop)


class StoreVolume:
    """A :class:`~fastmed.volume_source.LazyVolume` on the ``image`` or ``label`` array of a store series.

    Nothing is read until :meth:`read_window`; then only the chunks the box overlaps. It
    pickles as the store path, series id, array name and the few table values below (shape,
    dtype, spacing, statistics), never voxels, so it crosses to DataLoader workers cheaply.
    A single-slice array ``(1, y, x)`` (a radiograph) is shown as 2D ``(y, x)``.

    Parameters
    ----------
    store
        The store folder.
    series_id
        Keyed series id.
    array
        ``"image"`` or ``"label"``.
    row
        The series' table row (read from the store's table when ``None``).
    threads
        Native threads per read (``None``: the pool's size).

    Attributes
    ----------
    chunks_read
        Chunks decoded by this handle so far (telemetry; tests count reads with it).
    """

    def __init__(
        self,
        store: str | os.PathLike[str],
        series_id: str,
        array: str = layout.IMAGE,
        row: Mapping[str, Any] | None = None,
        threads: int | None = None,
    ):
        self.store = Path(store)
        self.series_id = series_id
        self.array = array
        self.threads = threads
        if row is None:
            from fastmed.store.reader import Store

            row = Store(self.store).row(series_id)
        full = tuple(int(n) for n in row["shape"])
        self._flat = len(full) == 3 and full[0] == 1
        self._full = full
        self.shape: tuple[int, ...] = full[1:] if self._flat else full
        self._full_spacing = tuple(float(s) for s in row["spacing"])
        self.spacing: tuple[float, ...] = self._full_spacing[1:] if self._flat else self._full_spacing
        self.stats: Mapping[str, float] = {} if array != layout.IMAGE else _stats_of(row)
        self._dtype_name = str(row["dtype"]) if array == layout.IMAGE else ""
        self._rel = str(row[array])
        self._info: ArrayInfo | None = None
        self.chunks_read = 0

    def __reduce__(self) -> tuple[Any, ...]:
        row = {
            "shape": list(self._full),
            "spacing": list(self._full_spacing),
            "dtype": self._dtype_name,
            self.array: self._rel,
            **dict(self.stats),
        }
        return (_rebuild, (str(self.store), self.series_id, self.array, row, self.threads))

    def __repr__(self) -> str:
        return f"StoreVolume({self.series_id} {self.array}, shape={self.shape})"

    @property
    def info(self) -> ArrayInfo:
        """The array's metadata (its ``zarr.json``, read once)."""
        if self._info is None:
            self._info = array_info(self.store / self._rel, f"series {self.series_id} {self.array}")
        return self._info

    @property
    def dtype(self) -> np.dtype[Any]:
        """Voxel type (native byte order)."""
        if self._dtype_name:
            return np.dtype(self._dtype_name)
        return self.info.dtype.newbyteorder("=")

    @property
    def ndim(self) -> int:
        """Number of axes of :attr:`shape`."""
        return len(self.shape)

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> npt.NDArray[Any]:
        """The box ``[lo, hi)`` as a C-contiguous array; only the chunks it overlaps are read.

        Raises
        ------
        CacheError
            A chunk in the box is missing or corrupt (series and chunk named).
        ValueError
            The box is not inside the volume.
        """
        a, b = check_box(self.shape, lo, hi)
        if self._flat:
            a, b = (0, *a), (1, *b)
        self.chunks_read += len(chunks_in_box(self.info, a, b))
        win = read_window(self.info, a, b, self.threads)
        return win[0] if self._flat else win

    def read(self) -> npt.NDArray[Any]:
        """The whole array (every chunk)."""
        return self.read_window((0,) * self.ndim, self.shape)


def _stats_of(row: Mapping[str, Any]) -> dict[str, float]:
    from fastmed.volume_source import STAT_NAMES

    return {k: float(row[k]) for k in STAT_NAMES if k in row and row[k] is not None}


def _rebuild(store: str, series_id: str, array: str, row: dict[str, Any], threads: int | None) -> StoreVolume:
    return StoreVolume(store, series_id, array, row, threads)
