"""fastmed's own RLE Lossless decoder (C++, ``csrc/cpu/rle_decode.cpp``): many frames in one call.

Frames of one file, or of every file of a series, are decoded by one native call with the
GIL released, threaded across frames on the native pool, straight into the output array.
The decoder accepts and refuses what pydicom's RLE decoder does (segment count equal to
samples x bytes per sample, segments inside the frame and in order, each decoding to at
least Rows x Columns bytes) and gives the same bytes: planar samples, little endian.
A refusal is a :class:`~fastmed.errors.DicomError` subclass naming the file, the frame and
the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.dicom._native_errors import as_error
from fastmed.dicom._pixel_options import pixel_dtype
from fastmed.dicom.header import PixelDataInfo

_BYTES = (1, 2, 4, 8)


def core() -> Any:
    """The compiled extension (imported on first use)."""
    from fastmed._native import core as ext

    return ext


def available() -> bool:
    """Whether the compiled extension has the batch RLE decoder."""
    try:
        return hasattr(core(), "rle_decode_files")
    except ImportError:
        return False


@dataclass(frozen=True)
class RleLayout:
    """The decoded layout shared by every frame of one native call."""

    rows: int
    columns: int
    samples: int
    dtype: np.dtype[Any]
    unused_bits: int  # high bits to sign-extend (signed) or clear: 0 leaves them to the caller

    @property
    def frame_samples(self) -> int:
        """Samples in one decoded frame."""
        return self.rows * self.columns * self.samples


def layout(opts: dict[str, Any], *, fix_unused_bits: bool) -> RleLayout | None:
    """The native layout for pixel options `opts`, or None when the native decoder does not apply.

    It applies to (7FE0,0010) Pixel Data of 8, 16, 32 or 64 bits allocated (other widths go to
    the plugin chain, whose answer or refusal is pydicom's). With `fix_unused_bits`, the
    decoder also does pydicom's sign extension of the bits above Bits Stored.
    """
    ba = int(opts["bits_allocated"])
    if opts["pixel_keyword"] != "PixelData" or ba % 8 or ba // 8 not in _BYTES or not available():
        return None
    unused = ba - int(opts["bits_stored"]) if fix_unused_bits else 0
    return RleLayout(
        int(opts["rows"]), int(opts["columns"]), int(opts["samples_per_pixel"]), pixel_dtype(opts, True), unused
    )


def _tables(frames: Sequence[tuple[int, npt.NDArray[Any]]]) -> tuple[npt.NDArray[np.int64], ...]:
    """(source, (k, 2) pieces) per frame -> the pieces, frame_index and frame_source arrays."""
    counts = np.fromiter((len(p) for _, p in frames), np.int64, len(frames))
    index = np.zeros(len(frames) + 1, np.int64)
    np.cumsum(counts, out=index[1:])
    pieces = np.concatenate([p for _, p in frames]).astype(np.int64, copy=False) if frames else np.zeros((0, 2))
    source = np.fromiter((s for s, _ in frames), np.int64, len(frames))
    return np.ascontiguousarray(pieces, np.int64).reshape(-1, 2), index, source


def _raise(
    result: tuple[Any, ...], frames: Sequence[tuple[int, npt.NDArray[Any]]], names: Sequence[str | None]
) -> None:
    frame, kind, err, reason = int(result[0]), int(result[1]), int(result[2]), str(result[3])
    if frame < 0:
        raise as_error((kind, 0, f"RLE decode: {reason}"), None)
    src, pieces = frames[frame]
    where = err if kind == 3 else (int(pieces[0][0]) if len(pieces) else 0)
    raise as_error((kind, where, reason if kind == 3 else f"frame {frame}: {reason}"), names[src])


def decode_into(
    sources: Sequence[Any],
    frames: Sequence[tuple[int, npt.NDArray[Any]]],
    lay: RleLayout,
    out: npt.NDArray[Any],
    threads: int | None,
    names: Sequence[str | None],
    rescale: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """Decode `frames` into `out` (C-contiguous, ``len(frames)`` planar frames of `lay`).

    Parameters
    ----------
    sources
        File paths (``str``: read by the native side) or buffers holding the frames' bytes.
    frames
        Per output frame: the index of its source and its ``(k, 2)`` (offset, length) pieces.
    names
        The file each source stands for, in errors.
    rescale
        Integer ``(slope, intercept)``: `out` is int16 and receives ``value * slope + intercept``
        in wrapping int16 arithmetic, exact when the returned range maps into int16.

    Returns
    -------
    tuple of int
        With `rescale`, the smallest and largest decoded value (before rescaling), else ``(0, 0)``.

    Raises
    ------
    DicomError
        The first failing frame: its file, the byte offset of its data and the reason.
    OSError
        A file that cannot be read.
    """
    pieces, index, source = _tables(frames)
    wrapped = None if rescale is None else (int(rescale[0]) % 65536, int(rescale[1]) % 65536)
    args = (pieces, index, source, out, lay.rows, lay.columns, lay.samples, lay.dtype.itemsize, lay.unused_bits)
    signed = lay.dtype.kind == "i"
    nthreads = 0 if threads is None else int(threads)
    if all(isinstance(s, str) for s in sources):
        error, lo, hi = core().rle_decode_files(list(sources), *args, signed, wrapped, nthreads)
    else:
        error, lo, hi = core().rle_decode_buffers(list(sources), *args, signed, wrapped, nthreads)
    if error is not None:
        _raise(error, frames, names)
    return int(lo), int(hi)


def decode_file_frames(
    buf: Any, px: PixelDataInfo, opts: dict[str, Any], path: str | None, threads: int | None
) -> tuple[npt.NDArray[Any], dict[str, Any]] | None:
    """Every frame of one file as the 1D array (and options) the plugin chain would give.

    None when the native decoder does not apply, or when the fragments hold more frames
    than Number of Frames (pydicom's excess-frame rule stays with the plugin chain).
    """
    nframes = int(opts["number_of_frames"])
    lay = layout(opts, fix_unused_bits=False)
    if lay is None or px.frame_note or px.frames_found != nframes:
        return None
    out = np.empty(lay.frame_samples * nframes, lay.dtype)
    frames = [(0, px.frame_pieces(i)) for i in range(nframes)]
    decode_into([buf], frames, lay, out, threads, [path])
    final = dict(opts)
    final["planar_configuration"] = 1
    return out, final


class RleFrameError(ValueError):
    """A frame the native decoder refuses (the plugin chain then asks pydicom's decoder)."""


def decode_frame(src: bytes, opts: dict[str, Any]) -> bytearray:
    """Plugin backend: one frame -> planar little endian samples, as pydicom's decoder gives."""
    lay = layout(opts, fix_unused_bits=False)
    if lay is None:
        raise RleFrameError(f"{opts['bits_allocated']}-bit RLE is not decoded natively")
    raw = bytearray(lay.frame_samples * lay.dtype.itemsize)
    out = np.frombuffer(raw, np.uint8)
    error, _, _ = core().rle_decode_buffers(
        [src], np.array([[0, len(src)]], np.int64), np.array([0, 1], np.int64), np.zeros(1, np.int64), out,
        lay.rows, lay.columns, lay.samples, lay.dtype.itemsize, 0, False, None, 1,
    )  # fmt: skip
    if error is not None:
        raise RleFrameError(str(error[3]))
    opts["planar_configuration"] = 1
    return raw
