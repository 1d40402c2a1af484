"""RandomLowRes: simulate a lower resolution (down-sample, then back up), a patch pass."""

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
from fastmed.transforms.plan import LowResPass


@register
@dataclass(frozen=True)
class RandomLowRes(IntensityOp):
    """Down-sample the patch by ``zoom`` (nearest), then up again (linear), like nnU-Net.

    Parameters
    ----------
    zoom
        Range to draw the zoom factor from (in (0, 1]).
    p
        Probability.
    """

    zoom: Any = (0.5, 1.0)
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "RandomLowRes")
        lo, hi = as_range(self.zoom, "zoom")
        if lo <= 0 or hi > 1:
            raise TransformError(f"RandomLowRes: zoom must be in (0, 1], got {self.zoom!r}")

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply and the zoom factor."""
        apply = rng.bernoulli(self.p)
        return {"apply": apply, "zoom": float(rng.uniform(*as_range(self.zoom, "zoom")))}

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One low-resolution pass."""
        if not params["apply"] or params["zoom"] >= 1.0:
            return []
        z = float(params["zoom"])
        return [LowResPass(zoom=(z, z, z))]
