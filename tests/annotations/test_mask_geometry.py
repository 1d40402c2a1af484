"""Masks vs series geometry: the LPS <-> RAS affine against SimpleITK and nibabel, loading, and mismatches."""

from __future__ import annotations

import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmed import AnnotationError, MaskGeometryError, annotate, read_series
from fastmed.annotations import GeometryTolerance, SeriesGrid, load_mask, mask_differences, nifti_affine
from fastmed.privacy import keyed_id

from .conftest import Indexed, oblique_grid


def _labels(shape: tuple[int, int, int]) -> np.ndarray:
    # Every voxel distinct (mod 251 + 1), so any transpose or flip shows.
    return (np.arange(np.prod(shape)).reshape(shape) % 251 + 1).astype(np.uint8)


def _write(path: Path, zyx: np.ndarray, affine: np.ndarray) -> str:
    nib.save(nib.Nifti1Image(np.ascontiguousarray(zyx.transpose(2, 1, 0)), affine), path)
    return str(path)


def _axial() -> SeriesGrid:
    return SeriesGrid((5, 6, 7), (3.0, 0.9, 0.8), (-100.0, -80.0, 40.0), np.eye(3))


@pytest.mark.parametrize("grid", [_axial(), oblique_grid()], ids=["axial", "oblique"])
def test_affine_matches_simpleitk(grid: SeriesGrid, tmp_path: Path) -> None:
    sitk = pytest.importorskip("SimpleITK")
    arr = _labels(grid.shape)
    img = sitk.GetImageFromArray(arr)  # SimpleITK takes a (z, y, x) array and LPS geometry, like fastmed
    img.SetSpacing(grid.spacing[::-1])
    img.SetOrigin(grid.origin)
    img.SetDirection(np.asarray(grid.direction).ravel().tolist())
    path = tmp_path / "sitk.nii.gz"
    sitk.WriteImage(img, str(path))
    np.testing.assert_allclose(nib.load(path).affine, nifti_affine(grid), atol=1e-4)
    np.testing.assert_array_equal(load_mask(str(path), grid), arr)
    # And the other way: a NIfTI from nifti_affine reads back into SimpleITK with the LPS geometry.
    mine = _write(tmp_path / "mine.nii.gz", arr, nifti_affine(grid))
    back = sitk.ReadImage(mine)
    np.testing.assert_allclose(back.GetOrigin(), grid.origin, atol=1e-4)
    np.testing.assert_allclose(back.GetSpacing(), grid.spacing[::-1], rtol=1e-6)
    np.testing.assert_allclose(np.reshape(back.GetDirection(), (3, 3)), grid.direction, atol=1e-5)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), arr)


def test_axis_codes_follow_nibabel() -> None:
    # An axial DICOM grid runs x to the patient's left, y to posterior, z to superior.
    assert nib.aff2axcodes(nifti_affine(_axial())) == ("L", "P", "S")
    coronal = SeriesGrid((4, 5, 6), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.array([[1, 0, 0], [0, 0, -1], [0, -1, 0.0]]))
    assert nib.aff2axcodes(nifti_affine(coronal)) == ("L", "I", "A")


@pytest.mark.parametrize("grid", [_axial(), oblique_grid()], ids=["axial", "oblique"])
def test_any_stored_orientation_loads_onto_the_grid(grid: SeriesGrid, tmp_path: Path) -> None:
    arr = _labels(grid.shape)
    img = nib.Nifti1Image(np.ascontiguousarray(arr.transpose(2, 1, 0)), nifti_affine(grid))
    canon = nib.as_closest_canonical(img)  # nibabel's own reorientation to RAS: other axis order and signs
    assert nib.aff2axcodes(canon.affine) == ("R", "A", "S")
    for name, im in (("own.nii.gz", img), ("canonical.nii.gz", canon)):
        nib.save(im, tmp_path / name)
        assert mask_differences(str(tmp_path / name), grid) == []
        np.testing.assert_array_equal(load_mask(str(tmp_path / name), grid), arr)


def _rotated(direction: np.ndarray, deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    r = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return r @ direction


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("shifted", "origin differs"),
        ("resized", "shape (z, y, x) differs"),
        ("respaced", "spacing (z, y, x) differs"),
        ("rotated", "direction differs"),
        ("lps_not_ras", "origin differs"),
        ("transposed_data", "shape (z, y, x) differs"),
    ],
)
def test_mismatches_are_caught(case: str, expect: str, tmp_path: Path) -> None:
    grid = oblique_grid()
    arr = _labels(grid.shape)
    aff = nifti_affine(grid)
    if case == "shifted":  # one slice further along z
        aff[:3, 3] += aff[:3, 2]
    elif case == "resized":
        arr = arr[:-1]
    elif case == "respaced":
        aff[:3, 0] *= 1.01
    elif case == "rotated":
        aff = nifti_affine(SeriesGrid(grid.shape, grid.spacing, grid.origin, _rotated(grid.direction, 1.0)))
    elif case == "lps_not_ras":  # the usual slip: the DICOM (LPS) affine written into NIfTI unchanged
        aff = grid.index_to_lps() @ np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1.0]])
    elif case == "transposed_data":  # (z, y, x) written as is, without the (i, j, k) transpose
        arr = arr.transpose(2, 1, 0)
    path = _write(tmp_path / "m.nii.gz", arr, aff)
    diffs = mask_differences(path, grid)
    assert any(d.startswith(expect) for d in diffs), diffs
    with pytest.raises(MaskGeometryError, match="series abc123") as exc:
        load_mask(path, grid, series_id="abc123")
    assert exc.value.differences == diffs and exc.value.series_id == "abc123"


def test_tolerance_is_stated_and_used(tmp_path: Path) -> None:
    grid = oblique_grid()
    aff = nifti_affine(grid)
    aff[:3, 3] += 0.005  # 0.009 mm off: inside the default 0.01 mm
    path = _write(tmp_path / "m.nii.gz", _labels(grid.shape), aff)
    assert mask_differences(path, grid) == []
    assert mask_differences(path, grid, GeometryTolerance(origin_mm=0.001))[0].startswith("origin differs")


def test_npy_mask_checks_shape_only(tmp_path: Path) -> None:
    grid = oblique_grid()
    arr = _labels(grid.shape)
    np.save(tmp_path / "ok.npy", arr)
    np.save(tmp_path / "bad.npy", arr[:, :-1])
    np.testing.assert_array_equal(load_mask(str(tmp_path / "ok.npy"), grid), arr)
    assert mask_differences(str(tmp_path / "bad.npy"), grid)[0].startswith("shape (z, y, x) differs")
    assert mask_differences(str(tmp_path / "missing.nii.gz"), grid)[0].startswith("mask file not found")


def _one_series(indexed: Indexed) -> tuple[str, str, np.ndarray, SeriesGrid]:
    s = next(s for s in indexed.info.all_series() if s.modality == "CT" and s.lesions)
    sid = keyed_id(s.series_uid)
    vol = read_series(indexed.manifest.find(sid).paths)
    return s.series_uid, sid, np.load(indexed.info.path(s.labels)), SeriesGrid.from_volume(vol)


def test_mask_from_the_volumes_own_affine_loads_equal(indexed: Indexed, tmp_path: Path) -> None:
    uid, sid, labels, grid = _one_series(indexed)
    path = _write(tmp_path / "m.nii.gz", labels, nifti_affine(grid))
    am = annotate(indexed.manifest, pa.table({"SeriesInstanceUID": [uid], "mask": [path]}), on="SeriesInstanceUID")
    np.testing.assert_array_equal(am.load_mask(sid), labels)
    np.testing.assert_allclose(am.grid(sid).index_to_lps(), grid.index_to_lps(), atol=1e-9)


def test_policy_raise_or_record(indexed: Indexed, tmp_path: Path) -> None:
    uid, sid, labels, grid = _one_series(indexed)
    aff = nifti_affine(grid)
    aff[:3, 3] += aff[:3, 0]  # shifted by one column
    bad = _write(tmp_path / "shifted.nii.gz", labels, aff)
    others = [s for s in indexed.info.all_series() if s.series_uid != uid]
    table = pa.table(
        {
            "SeriesInstanceUID": [uid] + [s.series_uid for s in others],
            "mask": [bad] + [indexed.info.path(s.mask).as_posix() for s in others],
        }
    )
    with pytest.raises(MaskGeometryError, match=f"series {sid}.*origin differs"):
        annotate(indexed.manifest, table, on="SeriesInstanceUID")
    am = annotate(indexed.manifest, table, on="SeriesInstanceUID", on_irregular="allow")
    a = am.annotation(sid)
    assert a.mask is None and am.load_mask(sid) is None
    assert len(a.problems) == 1 and "origin differs" in a.problems[0]
    assert am.summary.mask_problems == 1 and "1 masks do not fit" in str(am.summary)
    assert all(am.annotation(keyed_id(s.series_uid)).mask is not None for s in others)
    with pytest.raises(ValueError, match="on_irregular"):
        annotate(indexed.manifest, table, on="SeriesInstanceUID", on_irregular="resample")  # type: ignore[arg-type]


def test_unreadable_mask_follows_the_policy(indexed: Indexed, tmp_path: Path) -> None:
    uid, sid, _, _ = _one_series(indexed)
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti file at all")
    table = pa.table({"SeriesInstanceUID": [uid], "mask": [str(broken)]})
    with pytest.raises(AnnotationError, match="cannot read the mask"):
        annotate(indexed.manifest, table, on="SeriesInstanceUID")
    a = annotate(indexed.manifest, table, on="SeriesInstanceUID", on_irregular="allow").annotation(sid)
    assert a.mask is None and "cannot read the mask" in a.problems[0]


@settings(max_examples=25, deadline=None)
@given(
    perm=st.permutations([0, 1, 2]),
    signs=st.tuples(*[st.sampled_from([-1, 1])] * 3),
    angles=st.tuples(*[st.floats(-180, 180)] * 3),
    spacing=st.tuples(*[st.floats(0.3, 5.0)] * 3),
    shape=st.tuples(*[st.integers(1, 6)] * 3),
)
def test_nibabel_reorientations_load_back_equal(
    perm: list[int],
    signs: tuple[int, int, int],
    angles: tuple[float, float, float],
    spacing: tuple[float, float, float],
    shape: tuple[int, int, int],
) -> None:
    # Any grid, stored in any of the 48 axis orders/orientations by nibabel's own reorientation.
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    grid = SeriesGrid(shape, spacing, (-50.0, 20.0, 300.0), rot)
    arr = _labels(shape)
    img = nib.Nifti1Image(np.ascontiguousarray(arr.transpose(2, 1, 0)), nifti_affine(grid))
    ornt = np.array([[p, s] for p, s in zip(perm, signs, strict=True)], dtype=float)
    moved = img.as_reoriented(ornt)
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "m.nii")
        nib.save(moved, path)
        np.testing.assert_array_equal(load_mask(path, grid, tolerance=GeometryTolerance(origin_mm=1e-3)), arr)
