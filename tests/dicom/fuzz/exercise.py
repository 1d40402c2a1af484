"""What the fuzz target and the ASan replay do with one input: every native entry point on it.

Any exception other than a fastmed DicomError (or a crash of the process) is a bug.
"""

from __future__ import annotations

import os
import tempfile

from fastmed._native import core
from fastmed.dicom import read_header, read_pixels
from fastmed.dicom.slice_info import SliceInfo
from fastmed.errors import DicomError

_FILE = os.path.join(tempfile.mkdtemp(prefix="fastmed-fuzz-"), "input.dcm")


def _slice_facts(data: bytes) -> None:
    """The index's native path: never raises, whatever the bytes (errors come back as columns)."""
    for partial in (False, True):
        core.dicom_slice_facts_buffers([data], [partial], 1)
    with open(_FILE, "wb") as f:
        f.write(data)
    for prefix in (256, 1 << 13):  # a prefix read that may need the whole file, and a whole small file
        cols = core.dicom_slice_facts([_FILE], 1, prefix)
        core.dicom_make_slice_infos(SliceInfo, [_FILE], cols, None)


def exercise(data: bytes) -> None:
    """Run the header, index and pixel paths on ``data``."""
    _slice_facts(data)
    try:
        h = read_header(data)
    except DicomError:
        return
    if h.pixels is not None and len(data) < (1 << 20):
        try:
            read_pixels(data)
        except DicomError:
            pass
