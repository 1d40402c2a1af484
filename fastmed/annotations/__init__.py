"""Annotations: labels, reports and masks from a table, joined to series by keyed ids.

``annotate(manifest, "labels.csv", on=...)`` hashes raw UIDs and accession numbers on the way
in (:mod:`fastmed.privacy`, the index's key), turns columns into class labels, report text and
mask paths, checks every mask against its series' grid, and returns an
:class:`AnnotatedManifest`. See :mod:`fastmed.annotations.grid` for the LPS / RAS and
``(z, y, x)`` / ``(i, j, k)`` conventions.
"""

from __future__ import annotations

from fastmed.annotations.annotate import annotate
from fastmed.annotations.errors import AnnotationError, MaskGeometryError
from fastmed.annotations.grid import SeriesGrid, lps_index_affine, nifti_affine
from fastmed.annotations.keys import KEY_KINDS
from fastmed.annotations.masks import GeometryTolerance, load_mask, mask_differences
from fastmed.annotations.result import AnnotatedManifest, JoinSummary, SeriesAnnotation
from fastmed.annotations.series_grid import series_grid

__all__ = [
    "KEY_KINDS",
    "AnnotatedManifest",
    "AnnotationError",
    "GeometryTolerance",
    "JoinSummary",
    "MaskGeometryError",
    "SeriesAnnotation",
    "SeriesGrid",
    "annotate",
    "load_mask",
    "lps_index_affine",
    "mask_differences",
    "nifti_affine",
    "series_grid",
]
