"""The pixel description of a dataset, validated the way pydicom validates it."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastmed.dicom.header import DicomHeader
from fastmed.errors import DicomFormatError, DicomUnsupportedError

# Decoded images above this size are refused before any allocation or decode.
MAX_PIXEL_BYTES = 16 << 30

PHOTOMETRICS = {
    "MONOCHROME1",
    "MONOCHROME2",
    "PALETTE COLOR",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_ICT",
    "YBR_RCT",
    "YBR_PARTIAL_420",
    "YBR_PARTIAL_422",
    "HSV",
    "ARGB",
    "CMYK",
    "XYB",
}

_REQUIRED = {
    "rows": ("Rows", "(0028,0010) 'Rows'"),
    "columns": ("Columns", "(0028,0011) 'Columns'"),
    "bits_allocated": ("BitsAllocated", "(0028,0100) 'Bits Allocated'"),
    "samples_per_pixel": ("SamplesPerPixel", "(0028,0002) 'Samples per Pixel'"),
    "photometric_interpretation": ("PhotometricInterpretation", "(0028,0004) 'Photometric Interpretation'"),
}


def _int_value(h: DicomHeader, key: str, path: str | None) -> int | None:
    v = h.get(key)
    if v is None:
        return None
    if isinstance(v, list):
        v = v[0] if v else None
    vr = h.vrs.get(key, "")
    if vr not in ("US", "SS", "IS", ""):
        raise DicomFormatError(f"{key} has VR {vr}, expected US", path, h.ranges[key][0])
    if isinstance(v, (bytes, str)) or v is None:
        raise DicomFormatError(f"{key} has VR {h.vrs.get(key, '?')}, not a number", path, h.ranges[key][0])
    return int(v)


def pixel_options(h: DicomHeader, ts: str, path: str | None) -> dict[str, Any]:
    """Options dict (pydicom runner names) for decoding `h`'s pixel data.

    Raises
    ------
    DicomFormatError
        Missing or invalid Image Pixel module values, or an implausible image size.
    """
    assert h.pixels is not None
    keyword = h.pixels.keyword
    opts: dict[str, Any] = {"transfer_syntax_uid": ts, "pixel_keyword": keyword, "pixel_vr": h.pixels.vr}
    for opt, (key, label) in _REQUIRED.items():
        if key == "PhotometricInterpretation":
            v = h.get(key)
            if isinstance(v, list):
                v = "\\".join(str(x) for x in v)
            if v is None:
                raise DicomFormatError(f"missing required element {label}", path)
            opts[opt] = str(v)
            continue
        iv = _int_value(h, key, path)
        if iv is None:
            raise DicomFormatError(f"missing required element {label}", path)
        opts[opt] = iv
    for opt, key in (
        ("bits_stored", "BitsStored"),
        ("pixel_representation", "PixelRepresentation"),
        ("planar_configuration", "PlanarConfiguration"),
    ):
        iv = _int_value(h, key, path)
        if iv is not None:
            opts[opt] = iv
    nf = h.get("NumberOfFrames")
    if isinstance(nf, list):
        nf = nf[0] if nf else None
    if isinstance(nf, str):
        raise DicomFormatError("(0028,0008) 'Number of Frames' is not a number", path)
    opts["number_of_frames"] = 1 if nf in (None, 0) else int(nf)

    ba = opts["bits_allocated"]
    if not 1 <= ba <= 64 or (ba != 1 and ba % 8):
        raise DicomFormatError(f"(0028,0100) 'Bits Allocated' of {ba} is invalid", path)
    if "Float" not in keyword:
        bs = opts.get("bits_stored")
        if bs is None:
            raise DicomFormatError("missing required element (0028,0101) 'Bits Stored'", path)
        if not 1 <= bs <= ba:
            raise DicomFormatError(f"(0028,0101) 'Bits Stored' of {bs} is invalid for Bits Allocated {ba}", path)
        pr = opts.get("pixel_representation")
        if pr is None:
            raise DicomFormatError("missing required element (0028,0103) 'Pixel Representation'", path)
        if pr not in (0, 1):
            raise DicomFormatError(f"(0028,0103) 'Pixel Representation' of {pr} is invalid", path)
    else:
        opts.setdefault("bits_stored", ba)
        opts.setdefault("pixel_representation", 0)
    for key in ("rows", "columns"):
        if not 0 < opts[key] <= 0xFFFF:
            raise DicomFormatError(f"{key} value {opts[key]} is out of range", path)
    if opts["number_of_frames"] < 1:
        raise DicomFormatError(f"(0028,0008) 'Number of Frames' of {opts['number_of_frames']} is invalid", path)
    if opts["photometric_interpretation"] not in PHOTOMETRICS:
        raise DicomFormatError("unknown (0028,0004) 'Photometric Interpretation'", path)
    spp = opts["samples_per_pixel"]
    if spp not in (1, 3):
        raise DicomFormatError(f"(0028,0002) 'Samples per Pixel' of {spp} is invalid (1 or 3)", path)
    if spp == 3:
        pc = opts.get("planar_configuration")
        if pc is None:
            raise DicomFormatError("missing required element (0028,0006) 'Planar Configuration'", path)
        if pc not in (0, 1):
            raise DicomFormatError(f"(0028,0006) 'Planar Configuration' of {pc} is invalid", path)
    total = opts["rows"] * opts["columns"] * spp * opts["number_of_frames"] * max(ba, 8) // 8
    if total > MAX_PIXEL_BYTES:
        raise DicomFormatError(
            f"declared image size ({opts['rows']}x{opts['columns']}x{spp}, "
            f"{opts['number_of_frames']} frames, {ba} bits) is {total} bytes, "
            f"over the {MAX_PIXEL_BYTES} byte limit",
            path,
        )
    return opts


def pixel_dtype(opts: dict[str, Any], little_endian: bool) -> np.dtype:
    """Return the dtype pydicom uses for these options (the dataset's byte order, as pydicom)."""
    kw = opts["pixel_keyword"]
    dt: np.dtype
    if kw == "FloatPixelData":
        dt = np.dtype("float32")
    elif kw == "DoubleFloatPixelData":
        dt = np.dtype("float64")
    else:
        ba = opts["bits_allocated"]
        if ba == 1:
            code = "u1"
        else:
            code = "ui"[opts["pixel_representation"]] + str(ba // 8)
        try:
            dt = np.dtype(code)
        except TypeError:
            raise DicomUnsupportedError(f"no numpy dtype holds {ba}-bit pixels") from None
    if not little_endian:
        dt = dt.newbyteorder(">")
    return dt


def frame_length_bytes(opts: dict[str, Any], encapsulated: bool) -> int | float:
    """Bytes per frame as pydicom counts them (a float for unaligned 1-bit frames)."""
    length: int | float = opts["rows"] * opts["columns"] * opts["samples_per_pixel"]
    if opts["bits_allocated"] == 1:
        if encapsulated:
            length = int(length) // 8 + (int(length) % 8 > 0)
        else:
            length = length / 8
            if float(length).is_integer():
                length = int(length)
    else:
        length *= opts["bits_allocated"] // 8
    if opts["photometric_interpretation"] == "YBR_FULL_422" and not encapsulated:
        length = int(length) // 3 * 2
    return length
