"""DICOM in: native header parser and pixel decode matching pydicom's ``pixel_array``."""

from fastmed.dicom.header import DicomHeader, PixelDataInfo, read_header, read_headers
from fastmed.dicom.pixels import read_pixels
from fastmed.dicom.tags import DEFAULT_TAGS

__all__ = ["DEFAULT_TAGS", "DicomHeader", "PixelDataInfo", "read_header", "read_headers", "read_pixels"]
