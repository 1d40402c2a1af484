"""RandomGaussianBlur: a separable pass on the patch (not per voxel)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms.base import (
    Context,
    Instr,
    IntensityContext,
    IntensityOp,
    Params,
    as_range,
    check_p,
    register,
)
from fastmed.transforms.plan import BlurPass


@register
@dataclass(frozen=True)
class RandomGaussianBlur(IntensityOp):
    """Gaussian blur with sigma (output voxels) drawn per sample, per axis or isotropic.

    Boundary handling is scipy's ``reflect``; the kernel is cut at ``truncate`` sigma.

    Parameters
    ----------
    sigma
        Range to draw sigma from.
    isotropic
        One sigma for all axes (else one per axis).
    truncate
        Kernel radius in sigmas.
    p
        Probability.
    """

    sigma: Any = (0.5, 1.0)
    isotropic: bool = True
    truncate: float = 4.0
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "RandomGaussianBlur")
        if as_range(self.sigma, "sigma")[0] < 0:
            raise TransformError("RandomGaussianBlur: sigma must be >= 0")

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply and the sigmas (spatial axes of the sample)."""
        apply = rng.bernoulli(self.p)
        lo, hi = as_range(self.sigma, "sigma")
        n = 1 if self.isotropic else ctx.ndim
        s = [float(rng.uniform(lo, hi)) for _ in range(n)]
        return {"apply": apply, "sigma": s * ctx.ndim if self.isotropic else s}

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One blur pass (z sigma 0 for 2D)."""
        if not params["apply"]:
            return []
        s = [float(v) for v in params["sigma"]]
        s3 = (0.0, s[0], s[1]) if len(s) == 2 else (s[0], s[1], s[2])
        return [BlurPass(sigma=s3, truncate=float(self.truncate))]
