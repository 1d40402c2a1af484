"""RandomContrast and RandomBrightness: random linear changes of value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastmed.errors import TransformError
from fastmed.rng import BatchRNG, KeyedRNG
from fastmed.transforms.base import (
    Context,
    Instr,
    IntensityContext,
    IntensityOp,
    Params,
    as_range,
    check_p,
    draw_fields,
    register,
)
from fastmed.transforms.plan import OP_AFFINE, ProgramOp


@register
@dataclass(frozen=True)
class RandomContrast(IntensityOp):
    """``(v - mean) * factor + mean`` per channel (mean of the sample, from the source subsample).

    Parameters
    ----------
    factor
        Range to draw the factor from.
    p
        Probability.
    """

    stats_fields = ("mean",)  # statistics it reads (fastmed.transforms.stats)
    factor: Any = (0.75, 1.25)
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "RandomContrast")
        as_range(self.factor, "factor")

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply and the factor."""
        apply = rng.bernoulli(self.p)
        return {"apply": apply, "factor": float(rng.uniform(*as_range(self.factor, "factor")))}

    def draw_batch(self, rng: BatchRNG, ctxs: Sequence[Context]) -> list[Params]:
        """:meth:`sample_params` of every row in one draw."""
        return draw_fields(rng, self.p, [("factor", *as_range(self.factor, "factor"))])

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One affine instruction per channel."""
        if not params["apply"]:
            return []
        f = params["factor"]
        out: list[Instr] = []
        for c in range(ctx.channels):
            mean = ctx.stats(c)[0]
            out.append(ProgramOp(OP_AFFINE, (f, mean * (1.0 - f)), channel=c))
        return out


@register
@dataclass(frozen=True)
class RandomBrightness(IntensityOp):
    """Add ``delta`` (``mode="add"``) or multiply by it (``mode="mul"``).

    Parameters
    ----------
    delta
        Range to draw from (a number means ``(-v, v)`` for "add").
    mode
        ``"add"`` or ``"mul"``.
    p
        Probability.
    """

    delta: Any = (-0.1, 0.1)
    mode: str = "add"
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "RandomBrightness")
        if self.mode not in ("add", "mul"):
            raise TransformError(f"RandomBrightness: mode must be 'add' or 'mul', got {self.mode!r}")
        as_range(self.delta, "delta", symmetric=self.mode == "add")

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply and delta."""
        apply = rng.bernoulli(self.p)
        lo, hi = as_range(self.delta, "delta", symmetric=self.mode == "add")
        return {"apply": apply, "delta": float(rng.uniform(lo, hi))}

    def draw_batch(self, rng: BatchRNG, ctxs: Sequence[Context]) -> list[Params]:
        """:meth:`sample_params` of every row in one draw."""
        return draw_fields(rng, self.p, [("delta", *as_range(self.delta, "delta", symmetric=self.mode == "add"))])

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One affine instruction."""
        if not params["apply"]:
            return []
        d = params["delta"]
        return [ProgramOp(OP_AFFINE, (1.0, d) if self.mode == "add" else (d, 0.0))]
