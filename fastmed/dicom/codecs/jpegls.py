"""JPEG-LS lossless and near-lossless: CharLS through imagecodecs, else libjpeg, else pyjpegls."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastmed.dicom.codecs import Backend, _imagecodecs, _pylibjpeg


def _pyjpegls_available(ts: str) -> bool:
    try:
        import jpeg_ls  # noqa: F401
    except ImportError:
        return False
    return True


def _pyjpegls_decode(src: bytes, opts: dict[str, Any]) -> bytes | bytearray:
    import jpeg_ls

    arr = np.ascontiguousarray(jpeg_ls.decode_from_buffer(src))
    opts["planar_configuration"] = 0
    opts["bits_allocated"] = arr.dtype.itemsize * 8
    return bytearray(arr.tobytes())


# pyjpegls last: it refuses three oracle files (12/16-bit and near-lossless) the others decode.
BACKENDS: list[Backend] = [
    ("imagecodecs", _imagecodecs.jpegls_available, _imagecodecs.decode_jpegls),
    ("pylibjpeg-libjpeg", _pylibjpeg.available, _pylibjpeg.decode),
    ("pyjpegls", _pyjpegls_available, _pyjpegls_decode),
]
