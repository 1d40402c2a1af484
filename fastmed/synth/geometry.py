"""Series geometry: where every voxel of a synthetic series lies in patient space (LPS, mm).

A series is a stack of parallel slices. Voxel ``(k, j, i)`` (slice, row, column) sits at
``position[k] + j * dy * col_dir + i * dx * row_dir`` where ``position[k] = origin +
offsets[k] * step_dir``. ``step_dir`` is the slice normal except under gantry tilt, where
the table moves along patient z while the image plane is tilted (a sheared grid).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class SeriesGeometry:
    """The voxel grid of one series.

    Parameters
    ----------
    shape
        (slices, rows, columns).
    spacing
        (slice step, row spacing, column spacing) in mm; the slice step is measured along
        ``step_dir`` (the nominal step when ``offsets`` are not uniform).
    origin
        Patient position (x, y, z) of voxel (0, 0, 0).
    row_dir
        Unit vector along a row (increasing column index), the first half of
        ImageOrientationPatient.
    col_dir
        Unit vector down a column (increasing row index), the second half.
    step_dir
        Unit vector from one slice position to the next.
    offsets
        Distance of each slice position from ``origin`` along ``step_dir``, increasing.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: F64
    row_dir: F64
    col_dir: F64
    step_dir: F64
    offsets: F64

    @property
    def normal(self) -> F64:
        """Slice normal ``row_dir x col_dir``."""
        return np.asarray(np.cross(self.row_dir, self.col_dir), dtype=np.float64)

    @property
    def direction(self) -> F64:
        """3x3 matrix whose columns are the patient vectors of the array's x, y, z axes."""
        return np.stack([self.row_dir, self.col_dir, self.step_dir], axis=1)

    @property
    def uniform(self) -> bool:
        """True when slice positions are equally spaced at ``spacing[0]``."""
        expected = np.arange(self.shape[0]) * self.spacing[0]
        return bool(np.allclose(self.offsets, expected, atol=1e-6))

    def affine(self) -> F64:
        """4x4 map from (z, y, x, 1) voxel indices to patient (x, y, z, 1) mm (uniform grids)."""
        m = np.eye(4)
        m[:3, 0] = self.step_dir * self.spacing[0]
        m[:3, 1] = self.col_dir * self.spacing[1]
        m[:3, 2] = self.row_dir * self.spacing[2]
        m[:3, 3] = self.origin
        return m

    def position(self, k: int) -> F64:
        """ImagePositionPatient of slice ``k``."""
        return np.asarray(self.origin + self.offsets[k] * self.step_dir, dtype=np.float64)

    def slice_points(self, k: int) -> F64:
        """Patient coordinates of every pixel of slice ``k``, shape (rows, cols, 3)."""
        _, ny, nx = self.shape
        _, dy, dx = self.spacing
        jj = (np.arange(ny, dtype=np.float64) * dy)[:, None, None]
        ii = (np.arange(nx, dtype=np.float64) * dx)[None, :, None]
        return self.position(k)[None, None, :] + jj * self.col_dir + ii * self.row_dir

    def to_voxel(self, point: F64) -> F64:
        """Fractional (z, y, x) index of a patient point (sheared and non-uniform grids too)."""
        basis = np.stack([self.step_dir, self.col_dir * self.spacing[1], self.row_dir * self.spacing[2]], axis=1)
        o, j, i = np.linalg.solve(basis, np.asarray(point, dtype=np.float64) - self.origin)
        n = self.shape[0]
        if n == 1:
            k = o / self.spacing[0]
        elif o <= self.offsets[0] or o >= self.offsets[-1]:
            # Outside the stack: extrapolate with the end spacing so contains() still rejects it.
            end = 0 if o <= self.offsets[0] else n - 1
            nxt = 1 if end == 0 else n - 2
            step = (self.offsets[nxt] - self.offsets[end]) / (nxt - end)
            k = end + (o - self.offsets[end]) / step
        else:
            k = float(np.interp(o, self.offsets, np.arange(n, dtype=np.float64)))
        return np.array([k, j, i], dtype=np.float64)

    def contains(self, voxel: F64, margin: float = 0.0) -> bool:
        """Return True when a fractional index lies inside the grid with ``margin`` voxels to spare."""
        v = np.asarray(voxel)
        hi = np.asarray(self.shape, dtype=np.float64) - 1.0 - margin
        return bool(np.all(v >= margin) and np.all(v <= hi))

    def with_offsets(self, offsets: F64) -> SeriesGeometry:
        """Return a copy whose slices sit at ``offsets`` along ``step_dir``."""
        return replace(self, offsets=np.asarray(offsets, dtype=np.float64))


def rotation(angles_deg: tuple[float, float, float]) -> F64:
    """Rotation matrix ``Rz @ Ry @ Rx`` from angles about patient x, y and z, in degrees."""
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, dtype=np.float64)


def centred_geometry(
    centre: F64,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    row_dir: F64,
    col_dir: F64,
    step_dir: F64 | None = None,
) -> SeriesGeometry:
    """Build a uniform grid whose middle voxel sits at ``centre``.

    Parameters
    ----------
    centre
        Patient point (x, y, z) at the centre of the grid.
    shape, spacing
        (slices, rows, columns) and the matching spacings in mm.
    row_dir, col_dir
        Orientation of the image plane (normalised here).
    step_dir
        Slice step direction; the plane normal when omitted.
    """
    r = np.asarray(row_dir, dtype=np.float64)
    r = r / np.linalg.norm(r)
    c = np.asarray(col_dir, dtype=np.float64)
    c = c - r * float(r @ c)  # keep the plane orthonormal even if the caller's vectors drift
    c = c / np.linalg.norm(c)
    s = np.cross(r, c) if step_dir is None else np.asarray(step_dir, dtype=np.float64)
    s = s / np.linalg.norm(s)
    nz, ny, nx = shape
    dz, dy, dx = spacing
    half = 0.5 * ((nz - 1) * dz * s + (ny - 1) * dy * c + (nx - 1) * dx * r)
    return SeriesGeometry(
        shape=(int(nz), int(ny), int(nx)),
        spacing=(float(dz), float(dy), float(dx)),
        origin=np.asarray(centre, dtype=np.float64) - half,
        row_dir=r,
        col_dir=c,
        step_dir=s,
        offsets=np.arange(nz, dtype=np.float64) * dz,
    )
