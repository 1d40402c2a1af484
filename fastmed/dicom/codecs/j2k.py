"""JPEG 2000 (lossless, lossy, multi-component) and HTJ2K.

HTJ2K Lossless goes to OpenJPH (reversible coding: every conforming decoder gives the same
samples); everything else to OpenJPEG, through imagecodecs (GIL released) before
pylibjpeg-openjpeg (the same library, GIL held).
"""

from __future__ import annotations

from fastmed.dicom.codecs import Backend, _imagecodecs, _pylibjpeg

BACKENDS: list[Backend] = [
    ("imagecodecs-openjph", _imagecodecs.htj2k_lossless_available, _imagecodecs.decode_htj2k),
    ("imagecodecs-openjpeg", _imagecodecs.j2k_available, _imagecodecs.decode_j2k),
    ("pylibjpeg-openjpeg", _pylibjpeg.available, _pylibjpeg.decode),
]
