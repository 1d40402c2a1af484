"""Labels line up with lesion centres and geometry; image values and reports match the lesions."""

from __future__ import annotations

import re

import numpy as np
import pydicom
import pytest

from fastmed.synth import ArchiveInfo, SeriesInfo
from fastmed.synth.report import count_phrase


def _volumes(info: ArchiveInfo) -> list[SeriesInfo]:
    return [s for s in info.all_series() if s.modality in ("CT", "MR")]


def _values(info: ArchiveInfo, s: SeriesInfo) -> np.ndarray:
    """The series read back through pydicom alone, rescaled, in truth slice order."""
    slices = [pydicom.dcmread(info.path(f.path)) for f in s.slice_files()]
    return np.stack([pydicom.pixels.apply_rescale(ds.pixel_array, ds) for ds in slices]).astype(np.float64)


def _grid_points(s: SeriesInfo) -> np.ndarray:
    d = np.asarray(s.direction)
    k = np.asarray(s.slice_offsets_mm)[:, None, None, None] * d[:, 2]
    j = (np.arange(s.shape[1]) * s.spacing[1])[None, :, None, None] * d[:, 1]
    i = (np.arange(s.shape[2]) * s.spacing[2])[None, None, :, None] * d[:, 0]
    return np.asarray(s.origin) + k + j + i


@pytest.mark.usefixtures("lesion_seed_check")
@pytest.mark.parametrize("which", ["archive", "edge_archive"])
def test_labels_match_ellipsoids_from_truth(which: str, request: pytest.FixtureRequest) -> None:
    info: ArchiveInfo = request.getfixturevalue(which)
    for s in _volumes(info):
        labels = np.load(info.path(s.labels))
        assert labels.dtype == np.uint8 and labels.shape == tuple(s.shape)
        expected = np.zeros(s.shape, dtype=np.uint8)
        pts = _grid_points(s)
        for les in s.lesions:
            q = (pts - np.asarray(les.centre_mm)) / np.asarray(les.radii_mm)
            expected[(q**2).sum(-1) <= 1.0] = les.id
        # Only voxels on an ellipsoid's surface may differ (float rounding), if any.
        assert np.mean(labels != expected) < 1e-3
        assert set(np.unique(labels)) == {0, *(les.id for les in s.lesions)}


def test_label_at_centre_voxel_and_value_there(archive: ArchiveInfo) -> None:
    checked = 0
    for s in _volumes(archive):
        if not s.lesions:
            continue
        labels = np.load(archive.path(s.labels))
        values = _values(archive, s)
        for les in s.lesions:
            c = tuple(int(round(v)) for v in les.centre_voxel)
            assert labels[c] == les.id
            inside = values[labels == les.id]
            if s.modality == "CT":
                assert les.value == les.hu
                assert abs(values[c] - les.hu) < 50.0  # 5 sigma of the 10 HU noise
                assert abs(inside.mean() - les.hu) < 3.0 + 30.0 / np.sqrt(inside.size)
            else:  # Rician noise and a +-30% coil field: the lesion stands out, not exactly
                assert abs(np.median(inside) - les.value) < 0.4 * les.value
            checked += 1
    assert checked > 0


def test_lesion_mask_size_matches_radii(archive: ArchiveInfo) -> None:
    for s in _volumes(archive):
        labels = np.load(archive.path(s.labels))
        voxel = s.spacing[0] * s.spacing[1] * s.spacing[2]
        for les in s.lesions:
            volume = 4.0 / 3.0 * np.pi * np.prod(les.radii_mm)
            assert np.sum(labels == les.id) * voxel == pytest.approx(volume, rel=0.5)


def test_radiograph_labels(archive: ArchiveInfo) -> None:
    for s in archive.all_series():
        if s.modality not in ("CR", "DX"):
            continue
        labels = np.load(archive.path(s.labels))
        assert labels.shape == tuple(s.shape)
        for les in s.lesions:
            r, c = (int(round(v)) for v in les.centre_voxel)
            assert labels[r, c] == les.id


def test_reports_match_lesions(archive: ArchiveInfo, edge_archive: ArchiveInfo) -> None:
    for info in (archive, edge_archive):
        for st in info.studies:
            text = info.path(st.report).read_text()
            lesions = st.series[0].lesions
            assert all(s.report == st.report for s in st.series)
            assert st.lesion_count == len(lesions)
            impression = text.split("IMPRESSION:")[1]
            assert count_phrase(len(lesions)) in impression
            if not lesions:
                assert "No focal lesion." in text
            findings = re.findall(r"^\d+\. (.*)$", text, flags=re.M)
            assert len(findings) == len(lesions)
            first = st.series[0]
            mid = [(n - 1) / 2.0 for n in first.shape[-2:]]
            centre_x = (np.asarray(first.affine) @ [0.0, *mid, 1.0])[0]  # the body's midline
            for line, les in zip(findings, lesions, strict=True):
                assert f"{round(2 * max(les.radii_mm))} mm" in line
                assert les.location in line
                # LPS: patient right is -x, so a right-sided lesion lies below the midline's x.
                assert ("right" in line) == (les.centre_mm[0] < centre_x)
                assert ("lung" in line) == ("lung" in les.organ)
