"""Volume: an image array with its patient-space geometry, the unit every stage passes on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, eq=False)
class Volume:
    """An image with its geometry in patient space (LPS, millimetres).

    Parameters
    ----------
    array
        Voxels indexed (z, y, x) for 3D or (y, x) for 2D; any dtype.
    spacing
        Distance between voxel centres along each array axis, in mm, same order as the axes.
    origin
        Patient-space position (x, y, z) of the centre of voxel index 0.
    direction
        3x3 matrix whose columns are the patient-space unit vectors of the array's
        x, y and z axes (that is, of the last, middle and first array axes).
    meta
        Non-identifying facts (modality, transfer syntax, rescale, problems found).
    """

    array: npt.NDArray[Any]
    spacing: tuple[float, ...]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: npt.NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.spacing) != self.array.ndim:
            raise ValueError(f"spacing has {len(self.spacing)} values for a {self.array.ndim}-D array")
        if any(s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be positive, got {self.spacing}")
        d = np.asarray(self.direction, dtype=np.float64)
        if d.shape != (3, 3):
            raise ValueError(f"direction must be 3x3, got {d.shape}")
        object.__setattr__(self, "direction", d)

    def __repr__(self) -> str:
        # Short and identifier-free: no voxel values, no file paths (meta["files"]), keyed ids only.
        spacing = ", ".join(f"{v:.4g}" for v in self.spacing)
        parts = [f"shape={self.shape}", f"dtype={self.array.dtype}", f"spacing=({spacing})"]
        for key in ("modality", "series_id"):
            if self.meta.get(key):
                parts.append(f"{key}={self.meta[key]!r}")
        if self.meta.get("problems"):
            parts.append(f"problems={len(self.meta['problems'])}")
        return f"Volume({', '.join(parts)})"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the voxel array."""
        return tuple(self.array.shape)

    def index_to_patient(self) -> npt.NDArray[np.float64]:
        """Return the 4x4 matrix mapping (z, y, x, 1) voxel indices to patient (x, y, z, 1) mm.

        Only defined for 3D volumes.
        """
        if self.array.ndim != 3:
            raise ValueError("index_to_patient is defined for 3D volumes")
        sz, sy, sx = self.spacing
        m = np.eye(4)
        # Columns in (z, y, x) index order: the array's first axis moves along direction[:, 2].
        m[:3, 0] = self.direction[:, 2] * sz
        m[:3, 1] = self.direction[:, 1] * sy
        m[:3, 2] = self.direction[:, 0] * sx
        m[:3, 3] = self.origin
        return m
