"""A series' pixels -> one (z, y, x) array, each plane equal to ``read_pixels`` of its file.

Headers of every file are parsed in one native batch call (GIL released). Plain
uncompressed slices (single frame, one sample, little endian, whole bytes) are then read
straight from the file into their plane of the output: no whole-file read, no per-file
array; the unused-bit sign extension runs once over the stack. RLE Lossless series are
decoded by one native call (:mod:`fastmed.dicom.series_rle`). Every other file (compressed,
multi-frame, big endian, deflated, colour) is decoded by :func:`decode_header_pixels` in a
persistent thread pool, a chunk of files per worker; the codecs release the GIL there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from fastmed.dicom import _pool, series_rle
from fastmed.dicom._pixel_options import pixel_dtype, pixel_options
from fastmed.dicom._process import _shift
from fastmed.dicom._source import read_bytes
from fastmed.dicom.header import DicomHeader, read_headers
from fastmed.dicom.native import check_length
from fastmed.dicom.pixels import PIXEL_TAGS, _syntax, decode_header_pixels
from fastmed.dicom.rescale import apply_rescale
from fastmed.dicom.slice_info import SliceInfo
from fastmed.dicom.transfer_syntax import family
from fastmed.errors import DicomError

_PLAIN_PI = frozenset({"MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"})


@dataclass(frozen=True)
class _Plain:
    """Where a plain uncompressed slice's bytes are and how to read them."""

    offset: int
    dtype: np.dtype[Any]
    shift: int  # unused high bits to sign-extend (0: none)


def _plain(h: DicomHeader, path: str) -> _Plain | None:
    """The read plan of a file whose pixels are one frame of raw little endian samples, else None.

    Checks the same things :func:`decode_header_pixels` does, in the same order, so a bad
    file raises the same error either way.
    """
    px = h.pixels
    if px is None or px.encapsulated or h.inflated is not None or not h.little_endian:
        return None
    ts = _syntax(h, path)
    if family(ts) != "native":
        return None
    opts = pixel_options(h, ts, path)
    check_length(px, opts, path)
    if (
        opts["number_of_frames"] != 1
        or opts["samples_per_pixel"] != 1
        or opts["bits_allocated"] % 8
        or opts["photometric_interpretation"] not in _PLAIN_PI
    ):
        return None
    shift = 0
    if opts["pixel_keyword"] == "PixelData" and opts["bits_allocated"] > opts["bits_stored"]:
        shift = opts["bits_allocated"] - opts["bits_stored"]
    return _Plain(px.offset, pixel_dtype(opts, True), shift)


def _read_into(path: str, offset: int, out: npt.NDArray[Any]) -> None:
    view = memoryview(cast(Any, out)).cast("B")
    with open(path, "rb") as f:
        f.seek(offset)
        got = f.readinto(view)
    if got != view.nbytes:
        # check_length saw the bytes: the file changed under us.
        raise DicomError(f"pixel data shrank while reading ({got} of {view.nbytes} bytes)", path, offset)


def _decode_file(item: tuple[str, DicomHeader]) -> npt.NDArray[Any]:
    path, h = item
    return decode_header_pixels(h, read_bytes(path), path, threads=1)


def rescale_slices(array: npt.NDArray[Any], slices: list[SliceInfo]) -> npt.NDArray[Any]:
    """Apply each slice's Rescale Slope / Intercept to its plane of `array`.

    Uniform values go through :func:`~fastmed.dicom.rescale.apply_rescale` (int16 when exact,
    else float32); per-slice values give float32; identity leaves `array` as it is.
    """
    slopes = np.array([s.rescale_slope for s in slices])
    inters = np.array([s.rescale_intercept for s in slices])
    if np.all(slopes == 1.0) and np.all(inters == 0.0):
        return array
    if len(set(zip(slopes, inters, strict=True))) == 1:
        return apply_rescale(array, float(slopes[0]), float(inters[0]))
    shape = (-1,) + (1,) * (array.ndim - 1)
    return array.astype(np.float32) * slopes.reshape(shape).astype(np.float32) + inters.reshape(shape).astype(
        np.float32
    )


def _finish(decoded: tuple[npt.NDArray[Any], bool], slices: list[SliceInfo], rescale: bool) -> npt.NDArray[Any]:
    stack, rescaled = decoded
    return rescale_slices(stack, slices) if rescale and not rescaled else stack


def read_stack(slices: list[SliceInfo], threads: int | None, *, rescale: bool = False) -> npt.NDArray[Any]:
    """Stack the planes of `slices` (in order) into one array, rescaled by :func:`rescale_slices` if asked.

    Raises
    ------
    DicomError
        A file that cannot be read or decoded, or a plane whose shape is not Rows x Columns.
    """
    fast = series_rle.read_single_frames(slices, threads, rescale)
    if fast is not None:
        return _finish(fast, slices, rescale)
    paths = sorted({s.path for s in slices})
    headers: dict[str, DicomHeader] = {}
    for path, h in zip(paths, read_headers(paths, PIXEL_TAGS, threads=threads), strict=True):
        if isinstance(h, Exception):
            raise h
        headers[path] = h
    plans = {p: _plain(headers[p], p) for p in paths}
    first = plans[slices[0].path]
    shape = (slices[0].rows, slices[0].columns)
    if first is not None and all(
        (pl := plans[s.path]) is not None
        and pl.dtype == first.dtype
        and pl.shift == first.shift
        and s.frames == 1
        and (s.rows, s.columns) == shape
        for s in slices
    ):
        out = np.empty((len(slices), *shape), first.dtype)

        def read(k: int) -> None:
            plan = plans[slices[k].path]
            assert plan is not None
            _read_into(slices[k].path, plan.offset, out[k])

        _pool.map_chunks(read, range(len(slices)), threads)
        out = _shift(out, first.shift) if first.shift else out
        return rescale_slices(out, slices) if rescale else out

    rle = series_rle.stack_from_headers(slices, headers, paths, threads, rescale)
    if rle is not None:
        return _finish(rle, slices, rescale)
    stack = _decode_stack(slices, headers, paths, threads)
    return rescale_slices(stack, slices) if rescale else stack


def _decode_stack(
    slices: list[SliceInfo], headers: dict[str, DicomHeader], paths: list[str], threads: int | None
) -> npt.NDArray[Any]:
    """The per-file path: each file decoded by :func:`decode_header_pixels`, planes stacked."""
    if len(paths) == 1:
        # One (multi-frame) file: its frames are what runs in parallel.
        decoded = {paths[0]: decode_header_pixels(headers[paths[0]], read_bytes(paths[0]), paths[0], threads)}
    else:
        arrays = _pool.map_chunks(_decode_file, [(p, headers[p]) for p in paths], threads)
        decoded = dict(zip(paths, arrays, strict=True))
    planes = []
    for s in slices:
        arr = decoded[s.path]
        if s.frames > 1:
            arr = arr[s.frame]
        if arr.shape[:2] != (s.rows, s.columns):
            raise DicomError(f"decoded shape {arr.shape} does not match Rows x Columns {s.rows}x{s.columns}", s.path)
        planes.append(arr)
    return np.stack(planes)
