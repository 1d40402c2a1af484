"""Synthetic DICOM archive: CT/MR/X-ray phantoms with lesions, labels, reports and ground truth.

Everything is a pure function of a seed (keyed counter-based RNG, deterministic UIDs), so
the same call writes byte-identical files. ``truth.json`` records, per series, exactly
what a correct reader must recover: geometry, slice order, transfer syntax, edge cases
and lesions.
"""

from __future__ import annotations

from fastmed.synth.archive import generate_archive
from fastmed.synth.edge_cases import EDGE_CASES
from fastmed.synth.encode import ALL as TRANSFER_SYNTAXES
from fastmed.synth.info import ArchiveInfo, FileInfo, LesionInfo, SeriesInfo, StudyInfo, load_truth
from fastmed.synth.plan import SIZES

__all__ = [
    "EDGE_CASES",
    "SIZES",
    "TRANSFER_SYNTAXES",
    "ArchiveInfo",
    "FileInfo",
    "LesionInfo",
    "SeriesInfo",
    "StudyInfo",
    "generate_archive",
    "load_truth",
]
