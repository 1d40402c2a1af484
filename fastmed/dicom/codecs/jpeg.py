"""JPEG baseline / extended / lossless (processes 1, 2-4, 14, 14 SV1)."""

from __future__ import annotations

from fastmed.dicom.codecs import Backend, _imagecodecs, _pylibjpeg

BACKENDS: list[Backend] = [
    ("pylibjpeg-libjpeg", _pylibjpeg.available, _pylibjpeg.decode),
    ("imagecodecs", _imagecodecs.available, _imagecodecs.decode),
]
