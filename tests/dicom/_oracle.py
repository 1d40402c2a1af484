"""pydicom as the oracle for damaged inputs: where a file's elements end, and what it decodes to.

A damaged input must either be refused with a fastmed DicomError subclass or decode to
exactly what pydicom decodes from the same bytes; an input fastmed accepts and pydicom
cannot decode (a silent acceptance) fails the tests that use these helpers.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from io import BytesIO

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.filereader import data_element_generator

from fastmed.dicom import read_pixels
from fastmed.errors import DicomError

PIXEL_DATA = 0x7FE00010


@dataclass(frozen=True)
class Layout:
    """Top-level element ends (byte offsets, from 132) and the pixel data element's extent."""

    ends: tuple[int, ...]
    pixel_start: int
    pixel_end: int
    item_bounds: tuple[int, ...]  # inside encapsulated pixel data: offsets where an item starts or ends


def layout(data: bytes) -> Layout:
    """Walk a valid Part-10 file with pydicom's element generator (meta group explicit VR LE)."""
    ds = pydicom.dcmread(BytesIO(data), stop_before_pixels=True)
    ts = ds.file_meta.TransferSyntaxUID
    fp = BytesIO(data)
    fp.seek(132)
    ends = [132]
    starts: dict[int, int] = {}
    for _ in data_element_generator(fp, False, True, stop_when=lambda tag, vr, length: tag.group != 2):
        ends.append(fp.tell())
    for e in data_element_generator(fp, ts.is_implicit_VR, ts.is_little_endian):
        starts[int(e.tag)] = ends[-1]
        ends.append(fp.tell())
    start = starts[PIXEL_DATA]
    end = ends[ends.index(start) + 1]
    items: list[int] = []
    if ts.is_encapsulated:
        p = start + 12  # (7FE0,0010) OB, reserved, 0xFFFFFFFF
        while p + 8 <= end:
            items.append(p)
            group, elem, length = struct.unpack("<HHI", data[p : p + 8])
            p += 8 + (0 if (group, elem) == (0xFFFE, 0xE0DD) else length)
        items.append(end)
    return Layout(tuple(ends), start, end, tuple(items))


def pydicom_arrays(data: bytes) -> list[npt.NDArray[np.generic]]:
    """Every array pydicom decodes from ``data`` (its default plugins, then its own pure decoders)."""
    out: list[npt.NDArray[np.generic]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(BytesIO(data), force=True)
        except Exception:
            return out
        for plugin in ("", "pydicom"):
            try:
                from pydicom.pixels import pixel_array

                out.append(pixel_array(ds, decoding_plugin=plugin) if plugin else ds.pixel_array)
            except BaseException as exc:  # third-party decoders panic (pyo3 PanicException is a BaseException)
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
    return out


def refused_or_same_as_pydicom(data: bytes) -> str:
    """``"refused: <class>"`` or ``"same as pydicom"``; raises AssertionError on a silent acceptance.

    Any exception other than a DicomError propagates (a bug in itself).
    """
    try:
        got = read_pixels(data)
    except DicomError as exc:
        assert type(exc) is not DicomError, f"bare DicomError instead of a subclass: {exc}"
        return f"refused: {type(exc).__name__}"
    arrays = pydicom_arrays(data)
    assert arrays, f"fastmed accepted ({got.shape} {got.dtype}) bytes pydicom cannot decode"
    assert any(a.shape == got.shape and np.array_equal(a, got) for a in arrays), (
        f"fastmed decoded {got.shape} {got.dtype}, pydicom {[(a.shape, str(a.dtype)) for a in arrays]}: values differ"
    )
    return "same as pydicom"
