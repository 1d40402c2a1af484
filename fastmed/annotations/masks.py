"""Masks (NIfTI or ``.npy``) checked against their series' grid and loaded into its ``(z, y, x)`` voxels.

A NIfTI mask may be stored in any axis order and orientation (RAS, LAS, LPS ...): what counts
is where its voxels lie. Its affine is brought to LPS and to ``(z, y, x)`` index order (see
:mod:`fastmed.annotations.grid`); each series axis is matched to the mask axis parallel to it,
then shape, spacing, origin and direction are compared within :class:`GeometryTolerance`.
A mask that passes is transposed and flipped onto the series' grid. A ``.npy`` mask carries
no geometry: it must already be indexed ``(z, y, x)`` like the series, and only its shape is
checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.annotations.errors import AnnotationError, MaskGeometryError
from fastmed.annotations.grid import F64, SeriesGrid, lps_index_affine

_AXES = ("z", "y", "x")
_NO_FLIP = (False, False, False)


@dataclass(frozen=True)
class GeometryTolerance:
    """How far a mask's grid may be from its series' grid and still be the same grid.

    Parameters
    ----------
    spacing_rel
        Relative difference of voxel spacing per axis (1e-4: 0.05 mm drift across 512 voxels
        of 1 mm). Axes of length 1 (a projection image's slice axis) are not compared.
    origin_mm
        Distance between the centres of the voxels that map to series voxel (0, 0, 0).
    direction_deg
        Angle between each series axis and the mask axis matched to it.
    """

    spacing_rel: float = 1e-4
    origin_mm: float = 0.01
    direction_deg: float = 0.01


DEFAULT_TOLERANCE = GeometryTolerance()


@dataclass(frozen=True)
class _Fit:
    """How a mask's (z, y, x) axes map onto the series' axes, and what does not match."""

    perm: tuple[int, int, int]  # series axis b comes from mask axis perm[b]
    flip: tuple[bool, bool, bool]  # series axis b runs against mask axis perm[b]
    differences: list[str]


def _fit(mask_aff: F64, mask_shape: tuple[int, ...], grid: SeriesGrid, tol: GeometryTolerance) -> _Fit:
    """Compare a mask grid (``(z, y, x)`` -> LPS affine and shape) with a series grid."""
    series_aff = grid.index_to_lps()
    sm = np.linalg.norm(mask_aff[:3, :3], axis=0)
    ss = np.linalg.norm(series_aff[:3, :3], axis=0)
    if np.any(sm <= 0):
        return _Fit((0, 1, 2), _NO_FLIP, ["the mask's affine is singular"])
    dm = mask_aff[:3, :3] / sm
    ds = series_aff[:3, :3] / ss
    dots = ds.T @ dm  # [series axis, mask axis]
    best = np.argmax(np.abs(dots), axis=1)
    perm = (int(best[0]), int(best[1]), int(best[2]))
    diffs: list[str] = []
    if sorted(perm) != [0, 1, 2]:
        return _Fit((0, 1, 2), _NO_FLIP, ["direction differs: the mask's axes are not parallel to the series' axes"])
    flip = (bool(dots[0, perm[0]] < 0), bool(dots[1, perm[1]] < 0), bool(dots[2, perm[2]] < 0))
    angles = [float(np.degrees(np.arccos(min(1.0, abs(float(dots[b, perm[b]])))))) for b in range(3)]
    bad = [f"{_AXES[b]} by {angles[b]:.3g} deg" for b in range(3) if angles[b] > tol.direction_deg]
    if bad:
        diffs.append("direction differs: " + ", ".join(bad))
    shape_r = tuple(int(mask_shape[perm[b]]) for b in range(3))
    if shape_r != tuple(grid.shape):
        diffs.append(f"shape (z, y, x) differs: mask {shape_r}, series {tuple(grid.shape)}")
    sp_r = [float(sm[perm[b]]) for b in range(3)]
    bad_sp = [b for b in range(3) if grid.shape[b] > 1 and abs(sp_r[b] - ss[b]) > tol.spacing_rel * max(ss[b], 1e-12)]
    if bad_sp:
        fmt = lambda v: "(" + ", ".join(f"{x:.6g}" for x in v) + ")"  # noqa: E731
        diffs.append(f"spacing (z, y, x) differs: mask {fmt(sp_r)} mm, series {fmt(ss)} mm")
    corner = np.zeros(4)
    corner[3] = 1.0
    for b in range(3):
        if flip[b]:
            corner[perm[b]] = mask_shape[perm[b]] - 1
    gap = float(np.linalg.norm((mask_aff @ corner)[:3] - series_aff[:3, 3]))
    if gap > tol.origin_mm:
        diffs.append(f"origin differs by {gap:.4g} mm")
    return _Fit(perm, flip, diffs)


def _nifti(path: str) -> Any:
    try:
        import nibabel as nib
    except ImportError as exc:  # pragma: no cover - nibabel is in the [annotations] extra
        raise AnnotationError("reading NIfTI masks needs nibabel (pip install fastmed[annotations])") from exc
    try:
        return nib.load(path)
    except (OSError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise AnnotationError(f"{path}: cannot read the mask ({type(exc).__name__})") from exc


def _nifti_shape(img: Any, path: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3:
        raise AnnotationError(f"{path}: a mask must be 2D or 3D, got shape {shape}")
    i, j, k = shape
    return (k, j, i)


def _is_npy(path: str) -> bool:
    return path.lower().endswith(".npy")


def mask_differences(path: str, grid: SeriesGrid, tolerance: GeometryTolerance = DEFAULT_TOLERANCE) -> list[str]:
    """Return what differs between a mask file's grid and ``grid`` (empty when it fits).

    Only headers are read. For a ``.npy`` mask only the shape is compared.
    """
    return _check(path, grid, tolerance)[1]


def _check(path: str, grid: SeriesGrid, tol: GeometryTolerance) -> tuple[Any, list[str], _Fit | None]:
    if not Path(path).is_file():
        return None, [f"mask file not found: {path}"], None
    if _is_npy(path):
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise AnnotationError(f"{path}: cannot read the mask ({type(exc).__name__})") from exc
        shape = tuple(arr.shape)
        if shape == grid.shape[1:] and grid.shape[0] == 1:
            shape = (1, *shape)
        if shape != tuple(grid.shape):
            return arr, [f"shape (z, y, x) differs: mask {tuple(arr.shape)}, series {tuple(grid.shape)}"], None
        return arr, [], None
    img = _nifti(path)
    fit = _fit(lps_index_affine(img.affine), _nifti_shape(img, path), grid, tol)
    return img, fit.differences, fit


def load_mask(
    path: str, grid: SeriesGrid, *, series_id: str = "", tolerance: GeometryTolerance = DEFAULT_TOLERANCE
) -> npt.NDArray[Any]:
    """Load a mask as an array on the series' ``(z, y, x)`` voxel grid.

    Parameters
    ----------
    path
        A NIfTI (``.nii``, ``.nii.gz``) or NumPy (``.npy``) file.
    grid
        The series' grid (:func:`fastmed.annotations.series_grid`).
    series_id
        Keyed series id, named in errors.
    tolerance
        How close the grids must be.

    Returns
    -------
    numpy.ndarray
        Shape ``grid.shape``, the file's own dtype (NIfTI scaling applied when present).

    Raises
    ------
    MaskGeometryError
        When the mask's grid differs from the series' grid.
    """
    obj, diffs, fit = _check(path, grid, tolerance)
    if diffs:
        raise MaskGeometryError(series_id or "?", diffs, path)
    if fit is None:  # .npy, shape already checked
        return np.ascontiguousarray(np.asarray(obj).reshape(grid.shape))
    data = np.asanyarray(obj.dataobj)
    data = data.reshape(data.shape[:3] if data.ndim >= 3 else (*data.shape, 1))
    data = data.transpose(2, 1, 0).transpose(fit.perm)  # (z, y, x) of the file, then the series' axis order
    flips = tuple(b for b in range(3) if fit.flip[b])
    if flips:
        data = np.flip(data, axis=flips)
    return np.ascontiguousarray(data)
