"""ScaleIntensity: map an input range linearly onto an output range."""

from __future__ import annotations

from dataclasses import dataclass

from fastmed.errors import TransformError
from fastmed.transforms.base import Instr, IntensityContext, IntensityOp, Params, register
from fastmed.transforms.plan import OP_AFFINE, ProgramOp


@register
@dataclass(frozen=True)
class ScaleIntensity(IntensityOp):
    """Linearly map ``in_range`` (default: the per-channel min/max of the sample) onto ``out_range``.

    No clipping: values outside ``in_range`` land outside ``out_range``. Per-sample
    min/max come from the source subsample (see :mod:`fastmed.transforms.normalize`).

    Parameters
    ----------
    out_range
        Target range.
    in_range
        Source range; None means the sample's min and max per channel.
    """

    stats_fields = ("min", "max")  # statistics it reads (fastmed.transforms.stats)
    out_range: tuple[float, float] = (0.0, 1.0)
    in_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.in_range is not None and not self.in_range[1] > self.in_range[0]:
            raise TransformError(f"ScaleIntensity: empty in_range {self.in_range}")

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One affine instruction per channel."""
        a, b = float(self.out_range[0]), float(self.out_range[1])
        out: list[Instr] = []
        channels = [-1] if self.in_range is not None else list(range(ctx.channels))
        for c in channels:
            if self.in_range is not None:
                lo, hi = float(self.in_range[0]), float(self.in_range[1])
            else:
                _, _, lo, hi = ctx.stats(c)
            mul = (b - a) / (hi - lo) if hi > lo else 0.0
            out.append(ProgramOp(OP_AFFINE, (mul, a - lo * mul), channel=c))
        return out

    def output_range(self, params: Params, in_range: tuple[float, float] | None) -> tuple[float, float] | None:
        """The output range (exact for the sample's own min/max)."""
        return (float(min(self.out_range)), float(max(self.out_range)))
