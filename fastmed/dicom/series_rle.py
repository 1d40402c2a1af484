"""RLE Lossless series: every frame of every file decoded by one native call, straight into its plane.

Two ways in, both through :mod:`fastmed.dicom.codecs.rle_native`:

- :func:`read_single_frames`, for a series of single-frame files (CT, MR): only the first
  file's header is parsed and validated in Python; the native call reads every file whole,
  parses its header, checks that its pixel-module elements are byte for byte the first
  file's, and decodes its frame. A file that differs sends the series to the other way.
- :func:`stack_from_headers`, after the per-file headers are parsed: the fragment tables of
  those headers drive one decode call (multi-frame files, any frame order).

Both apply a uniform integer rescale while writing when the result fits int16 (the values
:func:`fastmed.dicom.series_pixels.rescale_slices` would give).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.dicom import tags as _tags
from fastmed.dicom._native_errors import as_error
from fastmed.dicom._pixel_options import pixel_options
from fastmed.dicom.codecs import rle_native
from fastmed.dicom.header import DicomHeader, read_headers
from fastmed.dicom.pixels import PIXEL_TAGS, _syntax
from fastmed.dicom.slice_info import SliceInfo
from fastmed.dicom.transfer_syntax import RLE_LOSSLESS, family

Decoded = tuple[npt.NDArray[Any], bool]  # the stack, and whether it is rescaled


def _options_key(h: DicomHeader) -> tuple[Any, ...]:
    """Everything :func:`pixel_options` reads from `h`: equal keys give equal options."""
    px = h.pixels
    assert px is not None
    return (h.transfer_syntax, px.tag, px.vr, px.encapsulated, *((repr(h.get(k)), h.vrs.get(k)) for k in PIXEL_TAGS))


def _rle_layout(
    h: DicomHeader, path: str, s: SliceInfo, seen: dict[tuple[Any, ...], dict[str, Any]]
) -> rle_native.RleLayout | None:
    """The native RLE layout of a one-sample RLE file whose frames map one to one, else None.

    Anything else (and any file the checks refuse) goes to the per-file path, which raises
    the same errors :func:`decode_header_pixels` does. `seen` caches the pixel options of
    headers with the same values (the files of a series mostly share them).
    """
    px = h.pixels
    if px is None or not px.encapsulated or px.frame_note:
        return None
    key = _options_key(h)
    opts = seen.get(key)
    if opts is None:
        ts = _syntax(h, path)
        if family(ts) != "rle":
            return None
        opts = seen[key] = pixel_options(h, ts, path)
    nframes = opts["number_of_frames"]
    if (
        opts["samples_per_pixel"] != 1
        or px.frames_found != nframes
        or s.frames != nframes
        or (opts["rows"], opts["columns"]) != (s.rows, s.columns)
    ):
        return None
    return rle_native.layout(opts, fix_unused_bits=True)


def _fused_rescale(slices: list[SliceInfo], lay: rle_native.RleLayout) -> tuple[int, int] | None:
    """The integer (slope, intercept) the RLE decoder can apply while writing, else None."""
    pairs = {(s.rescale_slope, s.rescale_intercept) for s in slices}
    if len(pairs) != 1 or lay.dtype.itemsize > 4:
        return None
    slope, intercept = next(iter(pairs))
    if (slope, intercept) == (1.0, 0.0) or not (float(slope).is_integer() and float(intercept).is_integer()):
        return None
    return int(slope), int(intercept)


def stack_from_headers(
    slices: list[SliceInfo],
    headers: dict[str, DicomHeader] | None,
    paths: list[str] | None,
    threads: int | None,
    rescale: bool,
) -> Decoded | None:
    """Every slice of an all-RLE series decoded by one native call from parsed headers, else None.

    `headers` maps each of `paths` (the distinct files of `slices`) to its header; ``None``
    parses them here. With `rescale`, a uniform integer rescale whose results fit int16 is
    applied by the decoder as it writes.
    """
    if paths is None or headers is None:
        paths = sorted({s.path for s in slices})
        headers = {}
        for path, h in zip(paths, read_headers(paths, PIXEL_TAGS, threads=threads), strict=True):
            if isinstance(h, Exception):
                raise h
            headers[path] = h
    first: rle_native.RleLayout | None = None
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for s in slices:
        lay = _rle_layout(headers[s.path], s.path, s, seen)
        if lay is None or (first is not None and lay != first):
            return None
        first = lay
    assert first is not None
    source = {p: i for i, p in enumerate(paths)}
    frames = []
    for s in slices:
        px = headers[s.path].pixels
        assert px is not None
        frames.append((source[s.path], px.frame_pieces(s.frame if s.frames > 1 else 0)))
    shape = (len(slices), first.rows, first.columns)
    fuse = _fused_rescale(slices, first) if rescale else None
    if fuse is not None:
        out16 = np.empty(shape, np.int16)
        lo, hi = rle_native.decode_into(paths, frames, first, out16, threads, paths, rescale=fuse)
        if _fits_int16(lo, hi, fuse):
            return out16, True
        # Outside int16: decode the raw values again; the caller's rescale then gives float32.
    out = np.empty(shape, first.dtype)
    rle_native.decode_into(paths, frames, first, out, threads, paths)
    return out, False


def _fits_int16(lo: int, hi: int, fuse: tuple[int, int]) -> bool:
    a, b = lo * fuse[0] + fuse[1], hi * fuse[0] + fuse[1]
    return -32768 <= min(a, b) and max(a, b) <= 32767


def read_single_frames(slices: list[SliceInfo], threads: int | None, rescale: bool) -> Decoded | None:
    """A series of single-frame RLE files, one slice each, without a Python header per file; else None.

    None also when a file's header differs from the first's or does not parse: the caller's
    per-file path then validates (and reports) every file.
    """
    if not rle_native.available() or any(
        s.frames != 1 or s.transfer_syntax != RLE_LOSSLESS or s.samples_per_pixel != 1 for s in slices
    ):
        return None
    paths = [s.path for s in slices]
    if len(set(paths)) != len(paths):
        return None
    ref = read_headers([paths[0]], PIXEL_TAGS)[0]
    if isinstance(ref, Exception):
        return None
    lay = _rle_layout(ref, paths[0], slices[0], {})
    if lay is None or any((s.rows, s.columns) != (lay.rows, lay.columns) for s in slices):
        return None
    pairs, _ = _tags.requests(PIXEL_TAGS)
    fuse = _fused_rescale(slices, lay) if rescale else None
    out = np.empty((len(slices), lay.rows, lay.columns), np.int16 if fuse is not None else lay.dtype)
    wrapped = None if fuse is None else (fuse[0] % 65536, fuse[1] % 65536)
    args = (lay.rows, lay.columns, lay.dtype.itemsize, lay.unused_bits, lay.dtype.kind == "i")
    nthreads = 0 if threads is None else int(threads)
    error, lo, hi = rle_native.core().rle_decode_series(paths, pairs, out, *args, wrapped, nthreads)
    if isinstance(error, str):
        return None  # "mismatch"
    if error is not None:
        index, kind, offset, reason = int(error[0]), int(error[1]), int(error[2]), str(error[3])
        raise as_error((kind, offset, f"frame 0: {reason}"), paths[index])
    if fuse is not None and not _fits_int16(int(lo), int(hi), fuse):
        return stack_from_headers(slices, None, None, threads, False)
    return out, fuse is not None
