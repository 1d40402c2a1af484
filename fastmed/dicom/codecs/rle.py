"""RLE Lossless: fastmed's native decoder, else imagecodecs, else pylibjpeg-rle, else pydicom's own (numpy).

Whole files and series do not come through here: :mod:`fastmed.dicom.codecs.rle_native` decodes
all their frames in one native call. This chain serves the frames that path leaves (files with
more fragments than Number of Frames, widths other than 8/16/32/64 bits).
"""

from __future__ import annotations

from typing import Any

from fastmed.dicom.codecs import Backend, _imagecodecs, _pylibjpeg, rle_native


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


def _native_available(ts: str) -> bool:
    return rle_native.available()


BACKENDS: list[Backend] = [
    ("fastmed-rle", _native_available, rle_native.decode_frame),
    ("imagecodecs", _imagecodecs.rle_available, _imagecodecs.decode_rle),
    ("pylibjpeg-rle", _pylibjpeg.available, _pylibjpeg.decode),
    ("pydicom-rle", _pydicom_available, _pydicom_decode),
]
