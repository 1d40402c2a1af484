"""DICOM in: header parsing, pixel decode, series assembly."""

from fastmed.dicom.series_assembly import read_series

__all__ = ["read_series"]
