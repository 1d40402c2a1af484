"""RLE Lossless: imagecodecs, else pylibjpeg-rle, else pydicom's own (numpy) RLE decoder."""

from __future__ import annotations

from typing import Any

from fastmed.dicom.codecs import Backend, _imagecodecs, _pylibjpeg


def _pydicom_available(ts: str) -> bool:
    return True


def _pydicom_decode(src: bytes, opts: dict[str, Any]) -> bytes | bytearray:
    from pydicom.pixels.decoders.rle import _rle_decode_frame

    out = _rle_decode_frame(
        src,
        opts["rows"],
        opts["columns"],
        opts["samples_per_pixel"],
        opts["bits_allocated"],
        opts.get("rle_segment_order", ">"),
    )
    opts["planar_configuration"] = 1
    return out


BACKENDS: list[Backend] = [
    ("imagecodecs", _imagecodecs.rle_available, _imagecodecs.decode_rle),
    ("pylibjpeg-rle", _pylibjpeg.available, _pylibjpeg.decode),
    ("pydicom-rle", _pydicom_available, _pydicom_decode),
]
