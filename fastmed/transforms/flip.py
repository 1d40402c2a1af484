"""RandomFlip: mirror along spatial axes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms.base import Context, Params, SpatialOp, SpatialStep, check_p, register


@register
@dataclass(frozen=True)
class RandomFlip(SpatialOp):
    """Flip each of ``axes`` independently with probability ``p``.

    Parameters
    ----------
    axes
        Spatial axes (0 = first spatial axis); None means every axis.
    p
        Probability per axis.
    """

    axes: tuple[int, ...] | None = None
    p: float = 0.5

    def __post_init__(self) -> None:
        check_p(self.p, "RandomFlip")

    def _axes(self, ctx: Context) -> tuple[int, ...]:
        axes = tuple(range(ctx.ndim)) if self.axes is None else tuple(int(a) for a in self.axes)
        if any(not 0 <= a < ctx.ndim for a in axes):
            raise TransformError(f"RandomFlip: axes {axes} out of range for a {ctx.ndim}-D sample")
        return axes

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """One Bernoulli draw per axis (in axis order)."""
        flips = [False] * ctx.ndim
        for a in self._axes(ctx):
            flips[a] = rng.bernoulli(self.p)
        return {"flip": flips}

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """``in_a = n_a - 1 - out_a`` on flipped axes."""
        d = ctx.ndim
        m = np.eye(d + 1)
        for a, f in enumerate(params["flip"]):
            if f:
                m[a, a] = -1.0
                m[a, d] = ctx.shape[a] - 1
        return SpatialStep(m, ctx.shape, ctx.spacing)
