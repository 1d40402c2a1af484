"""imagecodecs backends: fast, used when pylibjpeg is missing.

Colour: JPEG is decoded without colour conversion (``colorspace`` = the stored one) so
that the YCbCr -> RGB step is pydicom's own, as with the pylibjpeg path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastmed.dicom.transfer_syntax import FAMILIES


def available(ts: str) -> bool:
    """Whether imagecodecs with a codec for `ts` is importable."""
    try:
        import imagecodecs
    except ImportError:
        return False
    if ts in FAMILIES["jpeg"]:
        return bool(imagecodecs.JPEG8.available or imagecodecs.LJPEG.available)
    if ts in FAMILIES["jpegls"]:
        return bool(imagecodecs.JPEGLS.available)
    if ts in FAMILIES["j2k"]:
        return bool(imagecodecs.JPEG2K.available)
    return False


def decode(src: bytes, opts: dict[str, Any]) -> bytes | bytearray:
    """Decode one frame to interleaved samples."""
    import imagecodecs

    ts = opts["transfer_syntax_uid"]
    if ts in FAMILIES["jpeg"]:
        arr = (
            imagecodecs.jpeg_decode(src, colorspace="YCbCr", outcolorspace="YCbCr")
            if opts.get("samples_per_pixel") == 3 and "YBR" in str(opts.get("photometric_interpretation"))
            else imagecodecs.jpeg_decode(src)
        )
    elif ts in FAMILIES["jpegls"]:
        arr = imagecodecs.jpegls_decode(src)
        opts["planar_configuration"] = 0
    else:
        arr = imagecodecs.jpeg2k_decode(src)
        if opts.get("photometric_interpretation") in ("YBR_ICT", "YBR_RCT"):
            opts["photometric_interpretation"] = "RGB"
    arr = np.ascontiguousarray(arr)
    opts["bits_allocated"] = arr.dtype.itemsize * 8
    return bytearray(arr.tobytes())
