"""The native window reader: the per-chunk loop (file read, crc32c, blosc blocks, copy) in C++.

``fastmed._core.store_read_window`` reads, checks, decodes and copies every chunk part of a
window on the native thread pool without the GIL. It does not link blosc: it calls c-blosc 1.x's
``blosc_decompress_ctx``, whose address is taken here from the library imagecodecs loads
(its wheels ship ``imagecodecs.libs/libblosc-*.so.1*``; a system ``libblosc`` otherwise). When
neither is found, or the array is not blosc, :mod:`fastmed.store.window` reads in Python.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import CacheError
from fastmed.store import box_plan
from fastmed.store.box_plan import BoxTest
from fastmed.store.chunks import ArrayInfo


@functools.lru_cache(maxsize=1)
def blosc_decoder() -> int | None:
    """Address of ``blosc_decompress_ctx`` (c-blosc 1.x), or ``None`` when no such library loads."""
    if os.environ.get("FASTMED_STORE_NATIVE", "1") == "0":
        return None
    found: list[str] = []
    try:
        import imagecodecs
        import imagecodecs._blosc  # noqa: F401 - loads libblosc and the libraries it needs (its RPATH)

        base = os.path.dirname(os.path.dirname(imagecodecs.__file__))
        found = sorted(glob.glob(os.path.join(base, "imagecodecs.libs", "libblosc-*.so.1*")))
    except ImportError:  # pragma: no cover - imagecodecs is a dependency of the store
        pass
    system = ctypes.util.find_library("blosc")
    for path in [*found, *([system] if system else [])]:
        try:
            fn = ctypes.CDLL(path).blosc_decompress_ctx
        except (OSError, AttributeError):
            continue
        addr = ctypes.cast(fn, ctypes.c_void_p).value
        if addr:
            return int(addr)
    return None


def usable(info: ArrayInfo) -> bool:
    """Whether the native reader reads ``info`` (blosc, native byte order, a decoder found)."""
    return info.compressor == "blosc" and info.dtype.isnative and len(info.chunks) <= 3 and blosc_decoder() is not None


def read_box(
    info: ArrayInfo,
    lo: Sequence[int],
    hi: Sequence[int],
    out: npt.NDArray[Any],
    threads: int | None,
    touches: BoxTest | None,
    fill: float | None,
) -> int:
    """:func:`fastmed.store.window.read_window` natively (box checked, ``out`` of its shape); returns chunks read."""
    from fastmed.dicom._pool import workers

    if any(a >= b for a, b in zip(lo, hi, strict=True)):
        return 0
    if touches is not None and fill is not None:
        out[...] = fill  # then the chunks read overwrite their part
    idx, first, last = box_plan.box_chunks(info.chunks, lo, hi)
    idx, first, last = box_plan.narrowed(idx, first, last, info.chunks[0], touches, block_slices(info))
    if len(idx):
        c = np.asarray(info.chunks, dtype=np.int64)
        read_chunks(info, idx, first - idx * c, first - np.asarray(lo), last - first, out, workers(threads, len(idx)))
    return len(idx)


def block_slices(info: ArrayInfo) -> int:
    """z-slices of a chunk per blosc block (the footprint's test slab; a block decodes whole), else ``box_plan.SLAB``.

    From the codec's ``blocksize`` in ``zarr.json`` when it is a whole number of the chunk's z-slices
    (3D chunks); ``0`` (blosc's choice) and anything else keep the default. Only the reading
    speed depends on it: every slab size keeps each voxel the footprint reads.
    """
    if len(info.chunks) != 3:
        return box_plan.SLAB
    return _block_slices(str(info.path), info.chunks[1] * info.chunks[2] * info.dtype.itemsize)


@functools.lru_cache(maxsize=1024)
def _block_slices(path: str, plane: int) -> int:
    try:
        meta = json.loads(Path(path, "zarr.json").read_text())
        size = int(meta["codecs"][1].get("configuration", {}).get("blocksize", 0))
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return box_plan.SLAB
    if size <= 0 or plane <= 0 or size % plane:
        return box_plan.SLAB
    return max(box_plan.SLAB, size // plane)


def read_chunks(
    info: ArrayInfo,
    idx: npt.NDArray[np.int64],
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    ext: npt.NDArray[np.int64],
    out: npt.NDArray[Any],
    threads: int,
) -> None:
    """Copy the box ``[src, src + ext)`` of chunk ``idx`` to ``dst`` of ``out``, per row (native, GIL released).

    Raises
    ------
    CacheError
        The first failing chunk (missing, checksum mismatch, bad blosc header or block table,
        does not decompress), named by series, array and chunk index.
    """
    from fastmed._native import core

    pad = 3 - len(info.chunks)
    parts = np.zeros((len(idx), 9), dtype=np.int64)
    parts[:, pad:3], parts[:, 3 + pad : 6], parts[:, 6 + pad : 9] = src, dst, ext
    parts[:, 6 : 6 + pad] = 1
    base = f"{info.path}{os.sep}c{os.sep}"
    rows = idx.tolist()
    files = [base + os.sep.join(map(str, r)) for r in rows]
    view = out.reshape((1,) * pad + out.shape)
    chunk = (1,) * pad + tuple(info.chunks)
    err = core.store_read_window(files, parts, view, chunk, info.max_file_bytes, blosc_decoder(), threads)
    if err is not None:
        j, reason = err
        raise CacheError(f"{info.where} chunk {tuple(rows[j])}: {reason}")
