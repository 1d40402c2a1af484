"""``read_pixels``: the array pydicom 3's ``Dataset.pixel_array`` gives, by default options."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from fastmed.dicom import _process
from fastmed.dicom._pixel_options import pixel_options
from fastmed.dicom._source import Source, read_bytes
from fastmed.dicom.encapsulated import decode_encapsulated
from fastmed.dicom.header import DicomHeader, parse_buffer
from fastmed.dicom.native import check_length, decode_native
from fastmed.dicom.rescale import apply_rescale
from fastmed.dicom.transfer_syntax import family, name
from fastmed.errors import DicomFormatError, DicomUnsupportedError

PIXEL_TAGS = (
    "TransferSyntaxUID",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "RescaleIntercept",
    "RescaleSlope",
)


def _syntax(h: DicomHeader, path: str | None) -> str:
    ts = h.transfer_syntax
    fam = family(ts)
    assert h.pixels is not None
    if not ts:
        # pydicom refuses too: without (0002,0010) the encoding of the pixels is a guess.
        raise DicomFormatError("missing (0002,0010) Transfer Syntax UID: pixel encoding unknown", path)
    if h.pixels.encapsulated:
        if fam == "":
            why = "missing" if not ts else f"{name(ts)} is not supported"
            raise DicomUnsupportedError(f"encapsulated pixel data, transfer syntax {why}", path)
        if fam == "native":
            raise DicomFormatError(f"encapsulated pixel data in a {name(ts)} dataset", path, h.pixels.offset)
        return ts
    if fam not in ("native", ""):
        raise DicomFormatError(
            f"transfer syntax {name(ts)} is compressed but the pixel data is not encapsulated",
            path,
            h.pixels.offset,
        )
    return ts


def decode_header_pixels(h: DicomHeader, buf: Any, path: str | None, threads: int | None = None) -> np.ndarray:
    """Decode the pixels that `h` locates in `buf` (the bytes `h` was parsed from).

    Used by :func:`read_pixels` and by callers that parsed the header already.
    """
    px = h.pixels
    if px is None:
        raise DicomFormatError("no pixel data element (7FE0,0010/0008/0009)", path)
    ts = _syntax(h, path)
    opts = pixel_options(h, ts, path)
    if h.inflated is not None:
        buf = h.inflated
    if not px.encapsulated:
        check_length(px, opts, path)
        arr = decode_native(buf, px, opts, h.little_endian)
    else:
        arr, opts = decode_encapsulated(buf, px, opts, path, threads)
    arr = _process.reshape(arr, opts)
    arr = _process.correct(arr, opts)
    arr = _process.to_rgb(arr, opts)
    if not arr.flags.writeable:
        arr = arr.copy()
    return arr


def read_pixels(src: Source, *, rescale: bool = False, threads: int | None = None) -> np.ndarray:
    """Decode a DICOM file's pixels.

    Parameters
    ----------
    src
        A path, ``bytes`` or a buffer.
    rescale
        Apply Rescale Slope / Intercept: int16 when exact (integer slope and intercept,
        range fits), else float32.
    threads
        Threads decoding frames of multi-frame compressed data (``None``: one per core).

    Returns
    -------
    numpy.ndarray
        Same shape, dtype and values as pydicom 3's ``Dataset.pixel_array``:
        ``(rows, cols)``, ``(frames, rows, cols)``, plus a trailing samples axis for
        colour; YBR_FULL(_422) converted to RGB; big endian data keeps a big endian dtype.

    Raises
    ------
    DicomTruncatedError, DicomFormatError, DicomUnsupportedError
        Bad or unsupported input, naming the file and the reason.
    """
    path = str(os.fspath(src)) if isinstance(src, (str, os.PathLike)) else None
    buf: Any = read_bytes(path) if path is not None else src
    h = parse_buffer(buf, PIXEL_TAGS, path)
    arr = decode_header_pixels(h, buf, path, threads)
    if rescale:
        arr = apply_rescale(arr, h.rescale_slope, h.rescale_intercept)
    return arr
