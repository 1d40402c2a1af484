"""Lesion masks as NIfTI (``.nii.gz``) in the series' physical space, and the ``labels.csv`` table.

The NIfTI affine is built here from the synthetic grid itself (independently of
:mod:`fastmed.annotations`): voxel ``(i, j, k)`` = (column, row, slice) sits at
``origin + i dx row_dir + j dy col_dir + k dz step_dir`` in LPS, and NIfTI wants RAS, so the
x and y rows of the affine are negated. Radiographs carry no patient geometry in their DICOM
headers; their mask uses the grid a reader gives such an image (origin 0, identity directions,
pixel spacing, 1 mm slice).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fastmed.synth.geometry import SeriesGeometry
from fastmed.synth.info import StudyInfo

LABELS_TABLE = "labels.csv"
TABLE_COLUMNS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "path",
    "lesion_count",
    "lesion_present",
    "findings",
    "report",
    "mask",
)


def nifti_affine(g: SeriesGeometry, is_volume: bool) -> npt.NDArray[np.float64]:
    """RAS+ affine of the mask of a series on grid ``g`` (voxels ``(i, j, k)`` = column, row, slice)."""
    dz, dy, dx = g.spacing
    if is_volume:
        cols = (g.row_dir * dx, g.col_dir * dy, g.step_dir * dz)
        origin = np.asarray(g.origin, dtype=np.float64)
    else:
        cols = (np.array([dx, 0.0, 0.0]), np.array([0.0, dy, 0.0]), np.array([0.0, 0.0, 1.0]))
        origin = np.zeros(3)
    aff = np.eye(4)
    for c, v in enumerate(cols):
        aff[:3, c] = v
    aff[:3, 3] = origin
    aff[:2, :] *= -1.0  # LPS -> RAS
    return aff


def write_nifti_mask(path: Path, labels: npt.NDArray[np.uint8], g: SeriesGeometry, is_volume: bool) -> None:
    """Write ``labels`` ((z, y, x), or (rows, cols) for a radiograph) as a gzipped NIfTI-1 file, byte-stable."""
    import nibabel as nib

    data = labels if labels.ndim == 3 else labels[None]
    aff = nifti_affine(g, is_volume)
    img = nib.Nifti1Image(np.ascontiguousarray(data.transpose(2, 1, 0)), aff)
    img.header.set_xyzt_units("mm")
    img.set_sform(aff, code="scanner")
    img.set_qform(aff, code="scanner")
    img.set_data_dtype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(img.to_bytes(), compresslevel=6, mtime=0))


def write_labels_table(root: Path, studies: Sequence[StudyInfo], organs: dict[int, list[str]]) -> str:
    """Write ``labels.csv``: one row per series, keyed like a real export, and return its name.

    Columns: ``StudyInstanceUID`` and ``SeriesInstanceUID`` (raw, as an export would have them:
    the data is synthetic), ``path`` (series folder relative to the root; two series share one
    under the ``mixed_series`` edge case, so that key is then ambiguous), ``lesion_count``, ``lesion_present`` (0/1),
    ``findings`` (organs with a lesion, ``;``-separated), ``report`` (the study's report text)
    and ``mask`` (the series' NIfTI mask, relative to the root).
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TABLE_COLUMNS)
    for st in studies:
        report = (root / st.report).read_text()
        for s in st.series:
            findings = ";".join(sorted(set(organs[st.index])))
            present = int(st.lesion_count > 0)
            w.writerow([st.study_uid, s.series_uid, s.folder, st.lesion_count, present, findings, report, s.mask])
    (root / LABELS_TABLE).write_text(buf.getvalue())
    return LABELS_TABLE
