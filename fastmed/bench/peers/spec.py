"""The pipelines being compared, as plain numbers every implementation reads.

One spec per suite keeps the work identical across libraries: the same patch size,
angles, scales, window, gamma and noise ranges are translated into each library's own
parameter names by its peer module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class AugSpec:
    """One augmentation pipeline: crop, flip, affine, (elastic), window, gamma, noise.

    Parameters
    ----------
    patch
        Output patch size per spatial axis (channel excluded).
    degrees
        Maximum absolute rotation per axis in degrees (3D: about each axis; 2D: in plane).
    scale
        Range of the isotropic-per-axis scale factor.
    window
        Intensity window ``(low, high)`` mapped to ``[0, 1]`` with clipping.
    gamma
        Range of the gamma exponent applied to the windowed ``[0, 1]`` intensities.
    noise_std
        Upper bound of the gaussian noise standard deviation (drawn in ``[0, noise_std]``).
    elastic
        Whether the pipeline has an elastic deformation.
    elastic_max_mm
        Largest elastic displacement in voxels (spacing is 1 mm in these suites).
    elastic_sigma
        Smoothness of the displacement in voxels (gaussian sigma / control-point scale).
    """

    patch: tuple[int, ...]
    degrees: float
    scale: tuple[float, float]
    window: tuple[float, float]
    gamma: tuple[float, float] = (0.7, 1.5)
    noise_std: float = 0.05
    elastic: bool = True
    elastic_max_mm: float = 8.0
    elastic_sigma: float = 12.0

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions."""
        return len(self.patch)

    @property
    def radians(self) -> float:
        """``degrees`` in radians."""
        return math.radians(self.degrees)


R3D = AugSpec(patch=(128, 128, 128), degrees=15.0, scale=(0.85, 1.15), window=(-1000.0, 400.0))
XRAY2D = AugSpec(patch=(512, 512), degrees=10.0, scale=(0.9, 1.1), window=(0.0, 4095.0), elastic=False)
