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
def blosc_library() -> ctypes.CDLL | None:
    """The c-blosc 1.x library imagecodecs loads (else a system ``libblosc``), or ``None``."""
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
            lib = ctypes.CDLL(path)
            if lib.blosc_decompress_ctx:
                return lib
        except (OSError, AttributeError):
            continue
    return None


@functools.lru_cache(maxsize=1)
def blosc_decoder() -> int | None:
    """Address of ``blosc_decompress_ctx`` (c-blosc 1.x), or ``None`` when no such library loads."""
    if os.environ.get("FASTMED_STORE_NATIVE", "1") == "0":
        return None
    lib = blosc_library()
    if lib is None:
        return None
    addr = ctypes.cast(lib.blosc_decompress_ctx, ctypes.c_void_p).value
    return int(addr) if addr else None


def usable(info: ArrayInfo) -> bool:
    """Whether the native reader reads ``info`` (blosc, native byte order, a decoder found)."""
    return info.compressor == "blosc" and info.dtype.isnative and len(info.chunks) <= 3 and blosc_decoder() is not None


RECORD: list[tuple[int, ...]] | None = None
"""When a list (tests): every chunk index the native reads open is appended to it."""


def read_box(
    info: ArrayInfo,
    lo: Sequence[int],
    hi: Sequence[int],
    out: npt.NDArray[Any],
    threads: int | None,
    touches: BoxTest | None,
    fill: float | None,
) -> int:
    """:func:`fastmed.store.window.read_window` natively (box checked, ``out`` of its shape); returns chunks read.

    The whole read runs in C++ (``fastmed._core.store_read_box``) when ``touches`` is ``None`` or
    has a ``compiled()`` form (:meth:`fastmed.transforms.footprint_shape.SourceFootprint.compiled`):
    every chunk of the box is planned (its overlap, the footprint's tests of it and of its z-slabs)
    and read on the native pool, GIL released. Any other ``touches`` is asked in Python
    (:func:`fastmed.store.box_plan.narrowed`), then the chunks it keeps are read natively.
    """
    from fastmed.dicom._pool import workers

    if any(a >= b for a, b in zip(lo, hi, strict=True)):
        return 0
    if touches is not None and fill is not None:
        out[...] = fill  # then the chunks read overwrite their part
    compiled = _compiled(touches, len(info.chunks))
    if touches is None or compiled is not None:
        return _read_planned(info, lo, hi, out, workers(threads, 1 << 30), compiled)
    idx, first, last = box_plan.box_chunks(info.chunks, lo, hi)
    idx, first, last = box_plan.narrowed(idx, first, last, info.chunks[0], touches, block_slices(info))
    if len(idx):
        c = np.asarray(info.chunks, dtype=np.int64)
        read_chunks(info, idx, first - idx * c, first - np.asarray(lo), last - first, out, workers(threads, len(idx)))
    return len(idx)


def _compiled(touches: BoxTest | None, ndim: int) -> tuple[Any, ...] | None:
    """``touches.compiled()`` when it has one for boxes of ``ndim`` axes (a 3-D footprint takes no 2-D boxes)."""
    make = getattr(touches, "compiled", None)
    if make is None or (ndim == 2 and getattr(touches, "ndim", 3) != 2):
        return None
    return tuple(make())


def _read_planned(
    info: ArrayInfo,
    lo: Sequence[int],
    hi: Sequence[int],
    out: npt.NDArray[Any],
    threads: int,
    compiled: tuple[Any, ...] | None,
) -> int:
    """Plan and read the box natively (``store_read_box``); returns the chunks read."""
    from fastmed._native import core

    pad = 3 - len(info.chunks)
    view = out.reshape((1,) * pad + out.shape)
    n, err, opened = core.store_read_box(
        f"{info.path}{os.sep}c{os.sep}",
        len(info.chunks),
        [0] * pad + [int(v) for v in lo],
        [1] * pad + [int(v) for v in hi],
        view,
        [1] * pad + list(info.chunks),
        info.max_file_bytes,
        blosc_decoder(),
        threads,
        compiled,
        block_slices(info),
        RECORD is not None,
    )
    if RECORD is not None:
        RECORD.extend(opened)
    if err is not None:
        raise CacheError(f"{info.where} chunk {tuple(err[0])}: {err[1]}")
    return int(n)


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
