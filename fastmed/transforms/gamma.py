"""RandomGamma: power law on values rescaled to [0, 1]."""

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
from fastmed.transforms.plan import OP_GAMMA, ProgramOp


@register
@dataclass(frozen=True)
class RandomGamma(IntensityOp):
    """``lo + (hi - lo) * t ** gamma`` with ``t = clip((v - lo) / (hi - lo), 0, 1)``.

    The range ``(lo, hi)`` is ``value_range`` if given, else the range known from an
    earlier op (Window, ScaleIntensity, Clip), else the sample's min/max per channel
    (source subsample). ``invert`` uses ``1 - (1 - t) ** gamma`` (nnU-Net).

    Parameters
    ----------
    gamma
        Range to draw gamma from.
    value_range
        Fixed ``(lo, hi)`` or None.
    invert
        Apply the power to the inverted image.
    p
        Probability.
    """

    stats_fields = ("min", "max")  # statistics it reads (fastmed.transforms.stats)
    gamma: Any = (0.7, 1.5)
    value_range: tuple[float, float] | None = None
    invert: bool = False
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "RandomGamma")
        if as_range(self.gamma, "gamma")[0] <= 0:
            raise TransformError("RandomGamma: gamma must be > 0")

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply and gamma."""
        apply = rng.bernoulli(self.p)
        g = float(rng.uniform(*as_range(self.gamma, "gamma")))
        return {"apply": apply, "gamma": g}

    def draw_batch(self, rng: BatchRNG, ctxs: Sequence[Context]) -> list[Params]:
        """:meth:`sample_params` of every row in one draw."""
        return draw_fields(rng, self.p, [("gamma", *as_range(self.gamma, "gamma"))])

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One gamma instruction (per channel when ranges come from statistics)."""
        if not params["apply"]:
            return []
        inv = 1.0 if self.invert else 0.0
        rng = self.value_range if self.value_range is not None else ctx.value_range
        if rng is not None:
            return [ProgramOp(OP_GAMMA, (float(rng[0]), float(rng[1]), params["gamma"], inv))]
        out: list[Instr] = []
        for c in range(ctx.channels):
            _, _, lo, hi = ctx.stats(c)
            out.append(ProgramOp(OP_GAMMA, (lo, hi, params["gamma"], inv), channel=c))
        return out

    def output_range(self, params: Params, in_range: tuple[float, float] | None) -> tuple[float, float] | None:
        """Gamma keeps a known range."""
        return in_range if self.value_range is None else (float(self.value_range[0]), float(self.value_range[1]))
