"""fastmed: medical-imaging training that never waits for data.

The public face is the short list in ``__all__``; subpackages (``fastmed.dicom``,
``fastmed.synth``, ``fastmed.transforms`` ...) hold the rest.
"""

from __future__ import annotations

from fastmed._native import get_num_threads, set_num_threads
from fastmed.errors import (
    CacheError,
    DicomError,
    FastmedError,
    SeriesError,
    TransformError,
)
from fastmed.rng import KeyedRNG
from fastmed.volume import Volume

__version__ = "0.1.0"

__all__ = [
    "CacheError",
    "DicomError",
    "FastmedError",
    "KeyedRNG",
    "SeriesError",
    "TransformError",
    "Volume",
    "__version__",
    "get_num_threads",
    "set_num_threads",
]
