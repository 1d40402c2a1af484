"""JPEG baseline / extended / lossless (processes 1, 2-4, 14, 14 SV1).

Lossless JPEG goes to libjpeg-turbo (imagecodecs): one right answer, and it matches
pydicom on every lossless oracle file. Lossy JPEG stays with pylibjpeg-libjpeg, the library
pydicom uses: libjpeg-turbo's IDCT / upsampling differ from it by 1-5 grey levels.
"""

from __future__ import annotations

from fastmed.dicom.codecs import Backend, _imagecodecs, _pylibjpeg

BACKENDS: list[Backend] = [
    ("imagecodecs-libjpeg-turbo", _imagecodecs.jpeg_lossless_available, _imagecodecs.decode_jpeg_lossless),
    ("pylibjpeg-libjpeg", _pylibjpeg.available, _pylibjpeg.decode),
    ("imagecodecs", _imagecodecs.available, _imagecodecs.decode),
]
