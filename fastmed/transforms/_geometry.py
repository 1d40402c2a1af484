"""Small homogeneous-matrix helpers shared by the spatial ops (voxel index space)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]


def translation(offset: Sequence[float]) -> Matrix:
    """``in = out + offset``."""
    d = len(offset)
    m = np.eye(d + 1)
    m[:d, d] = offset
    return m


def linear(a: npt.ArrayLike) -> Matrix:
    """Embed a dxd linear map in a homogeneous matrix."""
    a = np.asarray(a, dtype=np.float64)
    d = a.shape[0]
    m = np.eye(d + 1)
    m[:d, :d] = a
    return m


def rotation(angles_rad: Sequence[float], ndim: int) -> Matrix:
    """Rotation in (z, y, x) array axes.

    3D: angles about the z, y and x axes, applied x first (R = Rz @ Ry @ Rx); the
    rotation about z turns the (y, x) plane. 2D: one angle in the (y, x) plane.
    """
    if ndim == 2:
        c, s = np.cos(angles_rad[0]), np.sin(angles_rad[0])
        return np.array([[c, -s], [s, c]])
    az, ay, ax = angles_rad
    cz, sz = np.cos(az), np.sin(az)
    cy, sy = np.cos(ay), np.sin(ay)
    cx, sx = np.cos(ax), np.sin(ax)
    rz = np.array([[1, 0, 0], [0, cz, -sz], [0, sz, cz]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[cx, -sx, 0], [sx, cx, 0], [0, 0, 1]])
    out: Matrix = rz @ ry @ rx
    return out


# Entries of the three rotations (about z, y, x) for :func:`rotations`: rotation k turns the
# plane (_ROW, _COL) with cos on the diagonal and -sin / +sin off it, as in :func:`rotation`.
_AXIS = np.arange(3)
_PLANE = np.array([0, 0, 1, 1, 2, 2])
_ROW = np.array([1, 2, 0, 2, 0, 1])
_COL = np.array([2, 1, 2, 0, 1, 0])
_SIGN = np.array([-1.0, 1.0, 1.0, -1.0, -1.0, 1.0])


def rotations(angles_rad: npt.NDArray[np.float64], ndim: int) -> npt.NDArray[np.float64]:
    """:func:`rotation` of each row of ``angles_rad`` (n, 3) or (n, 1), stacked (n, d, d), bit for bit."""
    n = angles_rad.shape[0]
    cos, sin = np.cos(angles_rad).T, np.sin(angles_rad).T
    if ndim == 2:
        out = np.empty((n, 2, 2))
        out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = cos[0], -sin[0], sin[0], cos[0]
        return out
    r = np.zeros((3, n, 3, 3))  # Rz, Ry, Rx (each C-contiguous, so the products run as before)
    r[_AXIS, :, _AXIS, _AXIS] = 1.0
    r[_PLANE, :, _ROW, _ROW] = cos[_PLANE]
    r[_PLANE, :, _ROW, _COL] = sin[_PLANE] * _SIGN[:, None]
    out3: npt.NDArray[np.float64] = r[0] @ r[1] @ r[2]
    return out3


def snap(m: Matrix, tol: float = 1e-9) -> Matrix:
    """Round entries within ``tol`` of an integer, so exact 90-degree maps stay exact."""
    r = np.round(m)
    out: Matrix = np.where(np.abs(m - r) < tol, r, m)
    return out


def lift_to_3d(m: Matrix, ndim: int) -> Matrix:
    """Embed a 2D (3x3) map as 4x4 over (z, y, x) with z kept at 0; 3D passes through."""
    if ndim == 3:
        return m
    out = np.eye(4)
    out[1:3, 1:3] = m[:2, :2]
    out[1:3, 3] = m[:2, 2]
    return out
