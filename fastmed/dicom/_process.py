"""Post-decode steps in pydicom's order: reshape, sign / unused-bit correction, colour."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastmed.dicom.transfer_syntax import FAMILIES


def reshape(arr: np.ndarray, opts: dict[str, Any]) -> np.ndarray:
    """(rows, cols[, samples]) or (frames, rows, cols[, samples]), samples last."""
    nf, spp = opts["number_of_frames"], opts["samples_per_pixel"]
    rows, cols = opts["rows"], opts["columns"]
    planar = opts.get("planar_configuration", 0)
    if nf > 1:
        if spp == 1:
            return arr.reshape(nf, rows, cols)
        if planar == 0:
            return arr.reshape(nf, rows, cols, spp)
        return arr.reshape(nf, spp, rows, cols).transpose(0, 2, 3, 1)
    if spp == 1:
        return arr.reshape(rows, cols)
    if planar == 0:
        return arr.reshape(rows, cols, spp)
    return arr.reshape(spp, rows, cols).transpose(1, 2, 0)


def _shift(arr: np.ndarray, bits: int) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        # A device array (CuPy) from the GPU decode path: same arithmetic shifts.
        return (arr << bits) >> bits
    if not arr.flags.writeable:
        arr = arr.copy()
    np.left_shift(arr, bits, out=arr)
    np.right_shift(arr, bits, out=arr)
    return arr


def correct(arr: np.ndarray, opts: dict[str, Any]) -> np.ndarray:
    """J2K / JPEG-LS signedness correction, else sign-extension of unused high bits."""
    ts = opts["transfer_syntax_uid"]
    pr = opts["pixel_representation"]
    if ts in FAMILIES["j2k"]:
        if opts["photometric_interpretation"] in ("MONOCHROME1", "MONOCHROME2"):
            signed = opts.get("j2k_is_signed", pr)
            bits = 8 * arr.dtype.itemsize - int(opts.get("j2k_precision", opts["bits_stored"]))
            if bits and signed != pr:
                arr = _shift(arr, bits)
        return arr
    if ts in FAMILIES["jpegls"]:
        if pr == 1:
            bits = 8 * arr.dtype.itemsize - int(opts.get("jls_precision", opts["bits_stored"]))
            if bits:
                arr = _shift(arr, bits)
        return arr
    if opts["pixel_keyword"] == "PixelData" and opts["bits_allocated"] > opts["bits_stored"]:
        arr = _shift(arr, opts["bits_allocated"] - opts["bits_stored"])
    return arr


def to_rgb(arr: np.ndarray, opts: dict[str, Any]) -> np.ndarray:
    """YBR_FULL / YBR_FULL_422 -> RGB with pydicom's own conversion (bit-exact with it)."""
    if opts["photometric_interpretation"] not in ("YBR_FULL", "YBR_FULL_422"):
        return arr
    from pydicom.pixels.processing import convert_color_space

    if not arr.flags.writeable:
        arr = arr.copy()
    out = convert_color_space(arr, "YBR_FULL", "RGB")
    opts["photometric_interpretation"] = "RGB"
    return out
