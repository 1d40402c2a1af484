"""NIfTI masks in the series' physical space load onto the (z, y, x) grid whatever their axis order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import zarr

import fastmed as fm
from fastmed.annotations import AnnotationError
from fastmed.store.masks import load_label

RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _ct(manifest: fm.Manifest, annotations: dict[str, Any]) -> tuple[fm.ManifestRow, fm.Volume, np.ndarray]:
    row = next(r for r in manifest.valid if r.modality == "CT" and np.load(annotations[r.series_id]["mask"]).any())
    vol = fm.read_series(row.paths, series=row.series_id)
    return row, vol, np.load(annotations[row.series_id]["mask"])


def _geometry(vol: fm.Volume) -> dict[str, Any]:
    return {"spacing": list(vol.spacing), "origin": list(vol.origin), "direction": vol.direction.tolist()}


def _nifti(mask: np.ndarray, vol: fm.Volume, path: Path, flip_i: bool) -> None:
    """Save ``mask`` (z, y, x) as NIfTI in (x, y, z) axis order, optionally flipped along i."""
    data = np.transpose(mask, (2, 1, 0))
    perm = np.zeros((4, 4))
    perm[0, 2] = perm[1, 1] = perm[2, 0] = perm[3, 3] = 1  # (i, j, k) -> (z, y, x) = (k, j, i)
    aff = RAS @ vol.index_to_patient() @ perm
    if flip_i:
        n = data.shape[0]
        data = data[::-1]
        flip = np.eye(4)
        flip[0, 0], flip[0, 3] = -1, n - 1
        aff = aff @ flip
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), aff), str(path))


@pytest.mark.parametrize("flip_i", [False, True])
def test_nifti_mask_on_series_grid(
    tmp_path: Path, manifest: fm.Manifest, annotations: dict[str, Any], flip_i: bool
) -> None:
    row, vol, mask = _ct(manifest, annotations)
    path = tmp_path / "mask.nii.gz"
    _nifti(mask, vol, path, flip_i)
    got = load_label(str(path), vol.array.shape, _geometry(vol), row.series_id)
    np.testing.assert_array_equal(got, mask)
    assert got.dtype == np.uint8


def test_nifti_mask_off_grid_is_an_error(tmp_path: Path, manifest: fm.Manifest, annotations: dict[str, Any]) -> None:
    _, vol, mask = _ct(manifest, annotations)
    path = tmp_path / "mask.nii"
    shifted = fm.Volume(vol.array, vol.spacing, tuple(np.add(vol.origin, (5.0, 0, 0))), vol.direction)
    _nifti(mask, shifted, path, False)
    with pytest.raises(AnnotationError, match="mask does not fit the series"):
        load_label(str(path), vol.array.shape, _geometry(vol), "x")


def test_convert_with_nifti_mask(
    tmp_path: Path, manifest: fm.Manifest, annotations: dict[str, Any], cluster1: Any
) -> None:
    row, vol, mask = _ct(manifest, annotations)
    path = tmp_path / "mask.nii.gz"
    _nifti(mask, vol, path, True)
    one = fm.Manifest(manifest.root, [row])
    ann = {row.series_id: {"mask": str(path), "classes": {"lesion": 1}}}
    fm.convert(one, tmp_path / "c.zarr", ann, scheduler=cluster1.scheduler_address, progress=False)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "c.zarr" / row.series_id / "label"))[...], mask)


def test_wrong_mask_fails_that_series_only(tmp_path: Path, manifest: fm.Manifest, cluster1: Any) -> None:
    rows = [r for r in manifest.valid if r.shape[0] > 1][:2]
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 4, 5), np.uint8))
    res = fm.convert(
        fm.Manifest(manifest.root, rows), tmp_path / "c.zarr", {rows[0].series_id: {"mask": str(bad)}},
        scheduler=cluster1.scheduler_address, progress=False,
    )  # fmt: skip
    assert res.converted == [rows[1].series_id]
    assert "mask does not fit the series" in res.failed[rows[0].series_id]
    assert not (tmp_path / "c.zarr" / rows[0].series_id).exists()
    assert fm.verify(tmp_path / "c.zarr").ok
