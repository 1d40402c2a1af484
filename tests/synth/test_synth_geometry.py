"""Geometry tags agree with truth.json, and truth.json agrees with itself (numpy formulas)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from fastmed.synth import ArchiveInfo, SeriesInfo


def _volumes(info: ArchiveInfo) -> list[SeriesInfo]:
    return [s for s in info.all_series() if s.modality in ("CT", "MR")]


def _headers(info: ArchiveInfo, s: SeriesInfo) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(info.path(f.path), stop_before_pixels=True) for f in s.slice_files()]


@pytest.mark.parametrize("which", ["archive", "edge_archive"])
def test_geometry_tags_match_truth(which: str, request: pytest.FixtureRequest) -> None:
    info: ArchiveInfo = request.getfixturevalue(which)
    for s in _volumes(info):
        d = np.asarray(s.direction)
        for f, ds in zip(s.slice_files(), _headers(info, s), strict=True):
            ipp = np.array([float(v) for v in ds.ImagePositionPatient])
            iop = np.array([float(v) for v in ds.ImageOrientationPatient])
            np.testing.assert_allclose(ipp, f.position, atol=1e-4)
            # The truth position follows from origin, direction and the slice offset.
            expected = np.asarray(s.origin) + s.slice_offsets_mm[f.slice_index] * d[:, 2]
            np.testing.assert_allclose(ipp, expected, atol=1e-4)
            np.testing.assert_allclose(iop, np.concatenate([d[:, 0], d[:, 1]]), atol=1e-5)
            assert [float(v) for v in ds.PixelSpacing] == pytest.approx([s.spacing[1], s.spacing[2]], abs=1e-5)
            assert (ds.Rows, ds.Columns) == (s.shape[1], s.shape[2])
            assert float(ds.SliceThickness) == pytest.approx(s.spacing[0], abs=1e-5)


def test_true_order_runs_along_the_normal(archive: ArchiveInfo) -> None:
    for s in _volumes(archive):
        d = np.asarray(s.direction)
        normal = np.cross(d[:, 0], d[:, 1])
        proj = np.array([np.dot(f.position, normal) for f in s.slice_files()])
        assert np.all(np.diff(proj) > 0)
        steps = np.linalg.norm(np.diff([f.position for f in s.slice_files()], axis=0), axis=1)
        np.testing.assert_allclose(steps, s.spacing[0], atol=1e-6)
        ds = _headers(archive, s)[0]
        assert float(ds.SpacingBetweenSlices) == pytest.approx(s.spacing[0], abs=1e-5)
        inst = [f.instance_number for f in s.slice_files()]
        assert inst == sorted(inst, reverse=s.instance_order == "descending")


def test_affine_matches_voxel_positions(archive: ArchiveInfo) -> None:
    for s in _volumes(archive):
        a = np.asarray(s.affine)
        for f in s.slice_files()[::5]:
            np.testing.assert_allclose((a @ [f.slice_index, 0, 0, 1])[:3], f.position, atol=1e-6)


def test_archive_has_oblique_and_anisotropic_series(archive: ArchiveInfo) -> None:
    vols = _volumes(archive)
    oblique = [s for s in vols if not np.allclose(np.abs(np.asarray(s.direction)), np.abs(np.eye(3)), atol=1e-3)]
    assert any(not np.allclose(np.abs(np.asarray(s.direction)), np.eye(3)[:, [0, 2, 1]], atol=1e-3) for s in oblique)
    assert any(abs(s.spacing[1] - s.spacing[2]) > 0.1 for s in vols)  # unequal in-plane spacing
    assert all(s.spacing[0] != s.spacing[1] for s in vols)  # slices thicker or thinner than pixels
