"""Window reads from the store: only the chunks a box overlaps, decoded in parallel into one buffer.

:func:`read_window` lists the chunks a half-open box overlaps, and decodes them on fastmed's
native thread pool (:func:`fastmed.dicom._pool.map_chunks`): each thread takes the next chunk
not yet claimed, reads its file into a reused buffer, checks its crc32c, decompresses into a
reused scratch chunk only the blosc blocks holding the slices the box needs (the file read,
crc32c, blosc and the numpy copy all release the GIL) and copies the overlap into the
preallocated window. For blosc arrays the same loop runs in C++ (:mod:`fastmed.store.native_read`);
the Python loop here reads the others (and everything when no c-blosc library is found). No
zarr-python on this path: its per-call overhead was several times the raw decode
(``docs/store_format.md``, "Reading windows"). :class:`StoreVolume` is the
:class:`~fastmed.volume_source.LazyVolume` handle on one array of a series.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.store import box_plan, layout
from fastmed.store import chunks as _chunks
from fastmed.store import native_read as _native
from fastmed.store.box_plan import BoxTest
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
    touches: BoxTest | None = None,
    fill: float | None = None,
) -> npt.NDArray[Any]:
    """The box ``[lo, hi)`` of an array, decoding only the chunks it overlaps (and of those what ``touches``).

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
    touches
        The reader's footprint (e.g. :meth:`fastmed.transforms.plan.SamplePlan.source_footprint`):
        its ``touches_boxes(lo, hi)`` says for ``(N, ndim)`` boxes in array coordinates which
        ones are read. Chunks it rules out are not opened, and of the others only the z-slabs
        it keeps are decoded and copied. ``None``: the whole box.
    fill
        Value of the voxels of the window that ``touches`` rules out (never read by its owner);
        ``None``: left as they are (unspecified: windows reuse buffers of earlier windows).

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
    return _read(info, lo, hi, threads, out, touches, fill)[0]


def _read(
    info: ArrayInfo,
    lo: Sequence[int],
    hi: Sequence[int],
    threads: int | None,
    out: npt.NDArray[Any] | None,
    touches: BoxTest | None,
    fill: float | None,
) -> tuple[npt.NDArray[Any], int]:
    """:func:`read_window`, and the number of chunks it decoded."""
    from fastmed.dicom._pool import map_chunks, workers

    a, b = check_box(info.shape, lo, hi)
    dtype = info.dtype.newbyteorder("=")
    want = tuple(y - x for x, y in zip(a, b, strict=True))
    if out is None:
        out = _new_window(want, dtype)
    elif out.shape != want or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {dtype} array of shape {want}")
    if _native.usable(info):
        return out, _native.read_box(info, a, b, out, threads, touches, fill)
    plan = [_overlap(idx, a, b, info.chunks) for idx in chunks_in_box(info, a, b)]
    if touches is not None and plan:
        plan, blank = _narrow(plan, a, info.chunks, touches)
        if fill is not None:
            for dst in blank:
                out[dst] = fill
    if not plan:
        return out, 0
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
    return out, len(plan)


# Window buffers handed out again once nothing refers to them any more: a fresh 9 MB window
# costs its page faults (about 2.5 ms per window, more than copying the voxels into it).
_WINDOWS: list[npt.NDArray[np.uint8]] = []
_WINDOWS_LOCK = threading.Lock()
_KEEP_WINDOWS = 4
_MIN_POOLED = 1 << 20
_MAX_POOLED = 1 << 26


def _after_fork() -> None:
    global _WINDOWS_LOCK
    _WINDOWS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def _new_window(shape: tuple[int, ...], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """An uninitialised C-contiguous array, on a reused buffer when one is free.

    A buffer is free when the pool holds its only reference: every window handed out is a
    view of its buffer (``base``), so the buffer stays taken while any view of it lives.
    """
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if not _MIN_POOLED <= nbytes <= _MAX_POOLED:
        return np.empty(shape, dtype=dtype)
    with _WINDOWS_LOCK:
        buf = None
        for b in _WINDOWS:
            # References: the list, ``b`` and getrefcount's argument.
            if b.nbytes >= nbytes and sys.getrefcount(b) <= 3:
                buf = b
                break
        if buf is None:
            # Room for the next, slightly larger window of the same kind (footprint boxes vary).
            size = min(-(-(nbytes * 5 // 4) // _MIN_POOLED) * _MIN_POOLED, _MAX_POOLED)
            buf = np.empty(max(size, nbytes), dtype=np.uint8)
            if len(_WINDOWS) >= _KEEP_WINDOWS:  # drop the smallest (by position: == on arrays compares voxels)
                del _WINDOWS[min(range(len(_WINDOWS)), key=lambda k: _WINDOWS[k].nbytes)]
            _WINDOWS.append(buf)
    return buf[:nbytes].view(dtype).reshape(shape)


Overlap = tuple[tuple[int, ...], tuple[slice, ...], tuple[slice, ...], tuple[int, int]]


def _narrow(
    plan: list[Overlap], lo: Sequence[int], chunks: Sequence[int], touches: BoxTest
) -> tuple[list[Overlap], list[tuple[slice, ...]]]:
    """Drop the overlaps ``touches`` rules out, and trim the others along z to the slabs it keeps.

    Returns the narrowed overlaps and the window regions left unread (to fill).
    """
    org = np.asarray(lo, dtype=np.int64)
    first = np.asarray([[s.start for s in dst] for _, _, dst, _ in plan], dtype=np.int64) + org
    last = np.asarray([[s.stop for s in dst] for _, _, dst, _ in plan], dtype=np.int64) + org
    iz = np.asarray([idx[0] for idx, _, _, _ in plan], dtype=np.int64)
    keep, t0s, t1s = box_plan.trim(iz, first, last, int(chunks[0]), touches)
    kept = set(keep.tolist())
    blank = [dst for j, (_, _, dst, _) in enumerate(plan) if j not in kept]
    out: list[Overlap] = []
    z_org, depth = int(org[0]), int(chunks[0])
    for j, t0, t1 in zip(keep.tolist(), t0s.tolist(), t1s.tolist(), strict=True):
        idx, src, dst, _ = plan[j]
        d0, d1 = t0 - z_org, t1 - z_org
        if d0 > dst[0].start:
            blank.append((slice(dst[0].start, d0), *dst[1:]))
        if d1 < dst[0].stop:
            blank.append((slice(d1, dst[0].stop), *dst[1:]))
        c = idx[0] * depth
        out.append((idx, (slice(t0 - c, t1 - c), *src[1:]), (slice(d0, d1), *dst[1:]), (t0 - c, t1 - c)))
    return out, blank


def _overlap(idx: tuple[int, ...], lo: Sequence[int], hi: Sequence[int], chunks: Sequence[int]) -> Overlap:
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
        """The array's metadata (its ``zarr.json``; parsed once per version of the file, see :func:`array_info`)."""
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

    def read_window(
        self, lo: Sequence[int], hi: Sequence[int], touches: BoxTest | None = None, fill: float | None = None
    ) -> npt.NDArray[Any]:
        """The box ``[lo, hi)`` as a C-contiguous array; only the chunks it overlaps are read.

        ``touches`` (a plan's :meth:`~fastmed.transforms.plan.SamplePlan.source_footprint`, in
        this handle's coordinates) narrows the read to the chunks and z-slabs it can read; the
        rest of the window is ``fill``, or unspecified when ``None`` (see :func:`read_window`).

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
        win, n = _read(self.info, a, b, self.threads, None, touches, fill)
        self.chunks_read += n
        return win[0] if self._flat else win

    def read(self) -> npt.NDArray[Any]:
        """The whole array (every chunk)."""
        return self.read_window((0,) * self.ndim, self.shape)


def _stats_of(row: Mapping[str, Any]) -> dict[str, float]:
    from fastmed.volume_source import STAT_NAMES

    return {k: float(row[k]) for k in STAT_NAMES if k in row and row[k] is not None}


def _rebuild(store: str, series_id: str, array: str, row: dict[str, Any], threads: int | None) -> StoreVolume:
    return StoreVolume(store, series_id, array, row, threads)
