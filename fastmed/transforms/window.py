"""Window and Clip: fixed intensity windows (CT level/width, value clipping)."""

from __future__ import annotations

from dataclasses import dataclass

from fastmed.errors import TransformError
from fastmed.transforms.base import Instr, IntensityContext, IntensityOp, Params, register
from fastmed.transforms.plan import OP_AFFINE, OP_CLIP, ProgramOp


@register
@dataclass(frozen=True)
class Window(IntensityOp):
    """Clip to ``[low, high]`` and map that range linearly onto ``out_range``.

    Parameters
    ----------
    low, high
        The window in input units (e.g. HU).
    out_range
        Output range (default ``(0, 1)``).
    """

    low: float
    high: float
    out_range: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if not self.high > self.low:
            raise TransformError(f"Window: high must exceed low, got ({self.low}, {self.high})")

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """``clip`` then ``v * mul + add``."""
        a, b = float(self.out_range[0]), float(self.out_range[1])
        mul = (b - a) / (self.high - self.low)
        return [ProgramOp(OP_CLIP, (self.low, self.high)), ProgramOp(OP_AFFINE, (mul, a - self.low * mul))]

    def output_range(self, params: Params, in_range: tuple[float, float] | None) -> tuple[float, float] | None:
        """The output range."""
        return (float(min(self.out_range)), float(max(self.out_range)))


@register
@dataclass(frozen=True)
class Clip(IntensityOp):
    """Clip values to ``[low, high]``.

    Parameters
    ----------
    low, high
        Bounds.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.high >= self.low:
            raise TransformError(f"Clip: high must be >= low, got ({self.low}, {self.high})")

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One clip instruction."""
        return [ProgramOp(OP_CLIP, (self.low, self.high))]

    def output_range(self, params: Params, in_range: tuple[float, float] | None) -> tuple[float, float] | None:
        """``[low, high]`` (narrowed by a known input range)."""
        if in_range is None:
            return (float(self.low), float(self.high))
        return (max(float(self.low), in_range[0]), min(float(self.high), in_range[1]))
