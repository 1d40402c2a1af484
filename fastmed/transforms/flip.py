"""RandomFlip: mirror along spatial axes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fastmed.errors import TransformError
from fastmed.rng import BatchRNG, KeyedRNG
from fastmed.transforms.base import BatchSteps, Context, Params, SpatialOp, SpatialStep, check_p, register


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

    def draw_batch(self, rng: BatchRNG, ctxs: Sequence[Context]) -> list[Params]:
        """:meth:`sample_params` of every row: one Bernoulli per axis, in axis order."""
        axes = self._axes(ctxs[0])
        drawn = rng.random(len(axes)) < self.p
        flips = np.zeros((len(ctxs), ctxs[0].ndim), dtype=bool)
        for k, a in enumerate(axes):
            flips[:, a] = drawn[:, k]
        return [{"flip": row} for row in flips.tolist()]

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """``in_a = n_a - 1 - out_a`` on flipped axes."""
        d = ctx.ndim
        m = np.eye(d + 1)
        for a, f in enumerate(params["flip"]):
            if f:
                m[a, a] = -1.0
                m[a, d] = ctx.shape[a] - 1
        return SpatialStep(m, ctx.shape, ctx.spacing)

    def steps(self, params: Sequence[Params], ctxs: Sequence[Context]) -> BatchSteps:
        """:meth:`step` of every row."""
        d = ctxs[0].ndim
        n = len(ctxs)
        flip = np.asarray([p["flip"] for p in params], dtype=bool).reshape(n, d)
        shape = np.asarray([c.shape for c in ctxs], dtype=np.float64).reshape(n, d)
        m = np.zeros((n, d + 1, d + 1))
        diag = m.reshape(n, -1)[:, :: d + 2]
        diag[:] = 1.0
        diag[:, :d][flip] = -1.0
        m[:, :d, d] = np.where(flip, shape - 1, 0.0)
        return BatchSteps(m, [c.shape for c in ctxs], [c.spacing for c in ctxs])
