"""RandomRot90: quarter turns in one plane (exact, like numpy.rot90)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms.base import Context, Params, SpatialOp, SpatialStep, check_p, register


@register
@dataclass(frozen=True)
class RandomRot90(SpatialOp):
    """Rotate by k * 90 degrees in the plane ``axes``; k uniform in {1, 2, 3} when applied.

    The result equals ``numpy.rot90(image, k, axes)`` on the spatial axes.

    Parameters
    ----------
    axes
        The plane, two spatial axes (default: the last two, (y, x)).
    p
        Probability of rotating at all.
    """

    axes: tuple[int, int] | None = None
    p: float = 0.5

    def __post_init__(self) -> None:
        check_p(self.p, "RandomRot90")

    def _plane(self, ctx: Context) -> tuple[int, int]:
        a, b = (ctx.ndim - 2, ctx.ndim - 1) if self.axes is None else (int(self.axes[0]), int(self.axes[1]))
        if a == b or not (0 <= a < ctx.ndim and 0 <= b < ctx.ndim):
            raise TransformError(f"RandomRot90: bad plane {(a, b)} for a {ctx.ndim}-D sample")
        return a, b

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """The number of quarter turns k (0 when not applied)."""
        apply = rng.bernoulli(self.p)
        k = int(rng.integers(1, 4))
        return {"k": k if apply else 0}

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """numpy.rot90 once is flip(axis b) then swap(a, b): ``in_a = out_b, in_b = n_b - 1 - out_a``."""
        a, b = self._plane(ctx)
        d = ctx.ndim
        m = np.eye(d + 1)
        shape = list(ctx.shape)
        for _ in range(int(params["k"]) % 4):
            one = np.eye(d + 1)
            one[a, a] = 0.0
            one[b, b] = 0.0
            one[a, b] = 1.0
            one[b, a] = -1.0
            one[b, d] = shape[b] - 1
            m = m @ one
            shape[a], shape[b] = shape[b], shape[a]
        spacing = list(ctx.spacing)
        if int(params["k"]) % 2:
            spacing[a], spacing[b] = spacing[b], spacing[a]
        return SpatialStep(m, tuple(shape), tuple(spacing))
