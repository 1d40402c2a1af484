"""Load a label mask (NIfTI or NumPy) onto a series' (z, y, x) voxel grid.

A simple loader: NIfTI axes are matched to the series axes by their directions (a signed
axis permutation), so masks saved in the series' physical space in any axis order load
exactly. Resampling is not done; a mask on another grid is an error. The annotations
package does the full geometry checks before a mask reaches the store.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import FastmedError

TOLERANCE_VOXELS = 0.1
"""Largest allowed offset (in voxels) between the mask grid and the series grid."""

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def label_dtype(mask: npt.NDArray[Any], where: str) -> npt.NDArray[Any]:
    """The mask as the smallest unsigned integer type that holds it exactly (uint8 usually)."""
    if mask.dtype.kind == "b":
        return mask.astype(np.uint8)
    if mask.dtype.kind == "f":
        if not np.all(np.isfinite(mask)) or not np.array_equal(mask, np.round(mask)):
            raise FastmedError(f"{where}: mask holds non-integer values")
    if mask.size and mask.min() < 0:
        return mask.astype(np.int32)
    top = int(mask.max()) if mask.size else 0
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max:
            return mask.astype(dt)
    raise FastmedError(f"{where}: mask values up to {top} do not fit 32 bits")


def load_mask(
    path: str | os.PathLike[str], shape: tuple[int, ...], index_to_patient: npt.NDArray[np.float64] | None, where: str
) -> npt.NDArray[Any]:
    """Load ``path`` as an integer label array of ``shape`` (z, y, x).

    Parameters
    ----------
    path
        ``.npy`` (already in (z, y, x) series order; (y, x) for a one-slice series) or NIfTI (``.nii``, ``.nii.gz``).
    shape
        The series array's shape.
    index_to_patient
        4x4 (z, y, x, 1) -> LPS mm matrix of the series (see :meth:`fastmed.Volume.index_to_patient`);
        needed for NIfTI.
    where
        Names the series in errors (keyed id).
    """
    p = Path(path)
    name = p.name.lower()
    if name.endswith(".npy"):
        arr = np.load(p, allow_pickle=False)
        if arr.ndim == len(shape) - 1 and shape[0] == 1:
            arr = arr[None]  # a radiograph's (rows, columns) mask
    elif name.endswith((".nii", ".nii.gz")):
        if index_to_patient is None:
            raise FastmedError(f"{where}: a NIfTI mask needs the series geometry")
        arr = _nifti_on_grid(p, index_to_patient, where)
    else:
        raise FastmedError(f"{where}: mask {p.name} is neither .npy nor NIfTI")
    if tuple(arr.shape) != tuple(shape):
        raise FastmedError(f"{where}: mask shape {tuple(arr.shape)} does not match the series {tuple(shape)}")
    return np.ascontiguousarray(label_dtype(arr, where))


def _nifti_on_grid(p: Path, index_to_patient: npt.NDArray[np.float64], where: str) -> npt.NDArray[Any]:
    import nibabel as nib

    img: Any = nib.load(str(p))
    data = np.asanyarray(img.dataobj)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise FastmedError(f"{where}: NIfTI mask has {data.ndim} dimensions, expected 3")
    # (i, j, k, 1) -> series (z, y, x, 1)
    m = np.linalg.inv(index_to_patient) @ _RAS_TO_LPS @ np.asarray(img.affine, dtype=np.float64)
    rot = m[:3, :3]
    perm = np.argmax(np.abs(rot), axis=0)  # series axis of each NIfTI axis
    if sorted(perm.tolist()) != [0, 1, 2]:
        raise FastmedError(f"{where}: NIfTI mask axes are not aligned with the series axes")
    signs = np.sign(rot[perm, [0, 1, 2]])
    ideal = np.zeros((3, 3))
    ideal[perm, [0, 1, 2]] = signs
    if np.abs(rot - ideal).max() > 1e-3:
        raise FastmedError(f"{where}: NIfTI mask grid differs from the series grid (spacing or rotation)")
    # Where NIfTI voxel (first index along each axis after flips) lands in the series grid.
    first = np.array([0 if s > 0 else n - 1 for s, n in zip(signs, data.shape, strict=True)], dtype=np.float64)
    lands = (m @ np.append(first, 1.0))[:3]
    if np.abs(lands).max() > TOLERANCE_VOXELS:
        raise FastmedError(f"{where}: NIfTI mask origin is {np.abs(lands).max():.2f} voxels off the series grid")
    for a, s in enumerate(signs):
        if s < 0:
            data = np.flip(data, axis=a)
    order = [int(np.nonzero(perm == k)[0][0]) for k in range(3)]
    return np.transpose(data, order)
