"""The header reader index and series assembly use: file -> SliceInfo records."""

from __future__ import annotations

from fastmed.dicom.slice_info import SliceInfo, slice_infos_from_dataset
from fastmed.errors import DicomError


def read_slice_infos(path: str) -> list[SliceInfo]:
    """Read the grouping and geometry facts of one file (one record per frame when enhanced)."""
    import struct

    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise DicomError("not a DICOM file", path) from exc
    except (ValueError, EOFError, KeyError, TypeError, struct.error) as exc:
        raise DicomError(f"unreadable header ({type(exc).__name__})", path) from exc
    return slice_infos_from_dataset(ds, path)
