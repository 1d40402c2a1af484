"""Uncompressed (native) pixel data -> 1D array, as pydicom's ``_as_array_native``."""

from __future__ import annotations

from math import ceil
from typing import Any

import numpy as np

from fastmed.dicom._pixel_options import frame_length_bytes, pixel_dtype
from fastmed.dicom.header import PixelDataInfo
from fastmed.errors import DicomFormatError, DicomTruncatedError


def check_length(px: PixelDataInfo, opts: dict[str, Any], path: str | None) -> None:
    """Validate the value length against Rows x Columns x Frames x Samples x Bits.

    Mirrors pydicom: one NUL pad byte is allowed, excess whole frames are kept
    (``number_of_frames`` is raised), a too-long YBR_FULL_422 buffer is refused.
    """
    frame_len = frame_length_bytes(opts, encapsulated=False)
    nframes = opts["number_of_frames"]
    expected = ceil(frame_len * nframes)
    actual = px.available
    padded = expected + expected % 2
    if actual < padded:
        if actual != expected:
            cut = " (the file ends early)" if px.truncated else ""
            raise DicomTruncatedError(
                f"pixel data is {actual} bytes, less than the {padded} bytes the image module declares{cut}",
                path,
                px.offset,
            )
    elif actual > padded:
        if opts["photometric_interpretation"] == "YBR_FULL_422":
            ybr_length = expected // 2 * 3
            if actual >= ybr_length + ybr_length % 2:
                raise DicomFormatError(
                    "pixel data is a third larger than expected: Photometric Interpretation "
                    "YBR_FULL_422 is wrong for it",
                    path,
                    px.offset,
                )
        else:
            whole = int(actual // frame_len)
            if whole > nframes:
                opts["number_of_frames"] = whole


def decode_native(buf: Any, px: PixelDataInfo, opts: dict[str, Any], little: bool) -> np.ndarray:
    """1D array of every frame (bit-unpacked, YBR_FULL_422 upsampled). Updates `opts`."""
    dtype = pixel_dtype(opts, little)
    length_bytes = frame_length_bytes(opts, encapsulated=False) * opts["number_of_frames"]
    src = memoryview(buf)[px.offset : px.offset + px.available]
    swap_ow = (
        not little
        and opts["bits_allocated"] // 8 == 1
        and opts["pixel_keyword"] == "PixelData"
        and opts.get("pixel_vr") == "OW"
    )
    if swap_ow:
        # 8-bit big endian data stored as OW: bytes are swapped pairwise (pad byte included).
        n = int(length_bytes)
        raw = bytes(src[: n + n % 2])
        if len(raw) % 2:
            raw += b"\0"
        arr = np.frombuffer(raw, dtype="u2").byteswap().view(dtype)[:n]
    else:
        arr = np.frombuffer(src[: ceil(length_bytes)], dtype=dtype)

    if opts["bits_allocated"] == 1:
        pixels = opts["rows"] * opts["columns"] * opts["samples_per_pixel"] * opts["number_of_frames"]
        unpacked = np.unpackbits(arr, bitorder="little", count=ceil(length_bytes) * 8)
        return unpacked[:pixels]

    if opts["photometric_interpretation"] != "YBR_FULL_422":
        return arr
    # PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr -> Y1 Cb Cr Y2 Cb Cr
    out = np.empty(arr.shape[0] // 2 * 3, dtype=dtype)
    out[::6] = arr[::4]
    out[3::6] = arr[1::4]
    out[1::6], out[4::6] = arr[2::4], arr[2::4]
    out[2::6], out[5::6] = arr[3::4], arr[3::4]
    opts["photometric_interpretation"] = "YBR_FULL"
    return out
