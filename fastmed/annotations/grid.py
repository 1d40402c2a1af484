"""The voxel grid of a series (shape, spacing, origin, direction) and its NIfTI affine.

Conventions
-----------
fastmed arrays are indexed ``(z, y, x)`` (slice, row, column) and placed in DICOM patient
space, LPS+ (x to the patient's Left, y to Posterior, z to Superior), in mm. NIfTI stores
voxels indexed ``(i, j, k)`` with an affine to RAS+ (x to Right, y to Anterior, z to Superior).
A series written as NIfTI therefore holds ``array.transpose(2, 1, 0)`` (i = column, j = row,
k = slice), and its affine is ``diag(-1, -1, 1, 1) @ index_to_lps @ P`` where ``P`` maps
``(i, j, k)`` to ``(z, y, x)`` = ``(k, j, i)``. This is what ITK / SimpleITK write for a DICOM
series, and what :func:`nifti_affine` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

LPS_TO_RAS: F64 = np.diag([-1.0, -1.0, 1.0, 1.0])
"""Patient LPS+ <-> RAS+ (its own inverse): negate x and y."""

IJK_TO_ZYX: F64 = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
"""NIfTI voxel ``(i, j, k, 1)`` -> fastmed voxel ``(z, y, x, 1)`` (its own inverse)."""


@dataclass(frozen=True, eq=False)
class SeriesGrid:
    """Where the voxels of a series lie: what a mask must match.

    Parameters
    ----------
    shape
        (z, y, x) voxels.
    spacing
        (z, y, x) mm.
    origin
        LPS position (x, y, z) of voxel (0, 0, 0), mm.
    direction
        3x3; columns are the LPS unit vectors of the array's x, y and z axes (as in
        :class:`~fastmed.Volume`).
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: F64

    def index_to_lps(self) -> F64:
        """4x4 map from ``(z, y, x, 1)`` voxel indices to LPS ``(x, y, z, 1)`` mm."""
        m = np.eye(4)
        d = np.asarray(self.direction, dtype=np.float64)
        for axis, col in enumerate((2, 1, 0)):  # array axis 0 (z) moves along direction[:, 2]
            m[:3, axis] = d[:, col] * self.spacing[axis]
        m[:3, 3] = self.origin
        return m

    @classmethod
    def from_volume(cls, volume: Any) -> SeriesGrid:
        """The grid of a 3D :class:`~fastmed.Volume`."""
        z, y, x = (int(s) for s in volume.shape)
        sz, sy, sx = (float(s) for s in volume.spacing)
        ox, oy, oz = (float(o) for o in volume.origin)
        return cls((z, y, x), (sz, sy, sx), (ox, oy, oz), np.asarray(volume.direction, dtype=np.float64))


def nifti_affine(grid: SeriesGrid) -> F64:
    """The NIfTI (RAS+) affine of ``grid``: maps ``(i, j, k, 1)`` of ``array.transpose(2, 1, 0)`` to RAS mm."""
    return LPS_TO_RAS @ grid.index_to_lps() @ IJK_TO_ZYX


def lps_index_affine(nifti_aff: F64) -> F64:
    """A NIfTI affine (``(i, j, k)`` -> RAS) as a map from ``(z, y, x)`` of the transposed array to LPS."""
    return LPS_TO_RAS @ np.asarray(nifti_aff, dtype=np.float64) @ IJK_TO_ZYX
