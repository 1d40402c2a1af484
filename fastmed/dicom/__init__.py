"""DICOM in: native header parser, pixel decode matching pydicom's ``pixel_array``, series assembly, index."""

from fastmed.dicom.gpu_decode import decode_batch, decode_frames
from fastmed.dicom.header import DicomHeader, PixelDataInfo, read_header, read_headers
from fastmed.dicom.index import index
from fastmed.dicom.manifest import Manifest, ManifestRow
from fastmed.dicom.pixels import read_pixels
from fastmed.dicom.series_assembly import read_series
from fastmed.dicom.tags import DEFAULT_TAGS

__all__ = [
    "DEFAULT_TAGS",
    "DicomHeader",
    "Manifest",
    "ManifestRow",
    "PixelDataInfo",
    "decode_batch",
    "decode_frames",
    "index",
    "read_header",
    "read_headers",
    "read_pixels",
    "read_series",
]
