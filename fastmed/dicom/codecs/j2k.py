"""JPEG 2000 (lossless, lossy, multi-component) and HTJ2K."""

from __future__ import annotations

from fastmed.dicom.codecs import Backend, _imagecodecs, _pylibjpeg

BACKENDS: list[Backend] = [
    ("pylibjpeg-openjpeg", _pylibjpeg.available, _pylibjpeg.decode),
    ("imagecodecs", _imagecodecs.available, _imagecodecs.decode),
]
