"""Resample: to a target spacing, using the sample's own spacing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms._geometry import linear
from fastmed.transforms.base import Context, Params, SpatialOp, SpatialStep, register


@register
@dataclass(frozen=True)
class Resample(SpatialOp):
    """Resample to ``spacing`` mm (shape ``round(n * old / new)``).

    Corner voxel centres stay aligned (as ``scipy.ndimage.zoom``): the map is
    ``in = out * (n - 1) / (N - 1)`` so no voxel reads outside the image; the actual
    spacing differs from the target by less than one voxel over the extent.

    Parameters
    ----------
    spacing
        Target spacing per spatial axis in mm.
    """

    spacing: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.spacing or any(float(s) <= 0 for s in self.spacing):
            raise TransformError(f"Resample: spacing must be positive, got {self.spacing!r}")

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """The output shape (deterministic)."""
        if len(self.spacing) != ctx.ndim:
            raise TransformError(f"Resample: spacing {self.spacing} for a {ctx.ndim}-D sample")
        shape = [max(1, int(round(n * s / t))) for n, s, t in zip(ctx.shape, ctx.spacing, self.spacing, strict=True)]
        return {"shape": shape}

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """A diagonal scale with aligned corners."""
        out = tuple(int(v) for v in params["shape"])
        r = np.array([(n - 1) / (m - 1) if m > 1 else 0.0 for n, m in zip(ctx.shape, out, strict=True)])
        spacing = tuple(
            float(s * ri) if ri > 0 else float(t) for s, ri, t in zip(ctx.spacing, r, self.spacing, strict=True)
        )
        return SpatialStep(linear(np.diag(r)), out, spacing)
