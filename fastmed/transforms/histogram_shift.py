"""RandomHistogramShift: a random piecewise-linear intensity map (MONAI's RandHistogramShift)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms.base import (
    Context,
    Instr,
    IntensityContext,
    IntensityOp,
    Params,
    check_p,
    register,
)
from fastmed.transforms.plan import ProgramOp
from fastmed.transforms.schema import HISTOGRAM_SHIFT

# Largest number of control points the per-voxel instruction carries (its layout in the schema).
MAX_POINTS = HISTOGRAM_SHIFT.counted.n_max if HISTOGRAM_SHIFT.counted is not None else 0


def _points_range(v: Any) -> tuple[int, int]:
    """``num_control_points`` as an integer range, checked."""
    try:
        lo, hi = (v, v) if isinstance(v, int | np.integer) else tuple(v)
        ok = all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in (lo, hi))
    except (TypeError, ValueError):
        ok = False
    if not ok or not 3 <= lo <= hi <= MAX_POINTS:
        raise TransformError(f"RandomHistogramShift: num_control_points must be integers in [3, {MAX_POINTS}], got {v}")
    return int(lo), int(hi)


@register
@dataclass(frozen=True)
class RandomHistogramShift(IntensityOp):
    """Map intensities through ``n`` control points, the inner ones shifted at random.

    As MONAI's ``RandHistogramShift``: reference points ``linspace(0, 1, n)``; the
    shifted points keep both ends and draw each inner point ``i`` (in order) uniformly
    between shifted point ``i - 1`` and reference point ``i + 1``. Both are scaled to the
    intensity range ``(lo, hi)`` and every voxel is mapped by linear interpolation
    between them (``np.interp``: constant outside the range). ``(lo, hi)`` is
    ``value_range`` if given, else the range known from an earlier op, else the
    sample's min/max per channel (source subsample; MONAI uses the image's min/max).

    Parameters
    ----------
    num_control_points
        ``n``, or a range ``(lo, hi)`` to draw it from (integers in [3, 16]).
    value_range
        Fixed ``(lo, hi)`` or None.
    p
        Probability.
    """

    num_control_points: Any = 10
    value_range: tuple[float, float] | None = None
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "RandomHistogramShift")
        _points_range(self.num_control_points)

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply, the number of points and the shifted points (in [0, 1])."""
        apply = rng.bernoulli(self.p)
        lo, hi = _points_range(self.num_control_points)
        n = int(rng.integers(lo, hi + 1))
        pts = np.linspace(0.0, 1.0, n)
        for i in range(1, n - 1):
            pts[i] = float(rng.uniform(pts[i - 1], pts[i + 1]))
        return {"apply": apply, "points": [float(v) for v in pts]}

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One instruction ``(n, x[0..n), y[0..n))`` (per channel when ranges come from statistics)."""
        if not params["apply"]:
            return []
        pts = np.asarray(params["points"], dtype=np.float64)
        if not (2 <= pts.size <= MAX_POINTS and np.all(np.diff(pts) >= 0) and pts[0] >= 0 and pts[-1] <= 1):
            raise TransformError("RandomHistogramShift: params.points must be 2 to 16 ascending values in [0, 1]")
        ref = np.linspace(0.0, 1.0, pts.size)
        rng = self.value_range if self.value_range is not None else ctx.value_range
        ranges: list[tuple[int, float, float]] = []
        if rng is not None:
            ranges.append((-1, float(rng[0]), float(rng[1])))
        for c in range(ctx.channels if rng is None else 0):
            _, _, lo, hi = ctx.stats(c)
            ranges.append((c, lo, hi))
        out: list[Instr] = []
        for c, lo, hi in ranges:
            xs, ys = ref * (hi - lo) + lo, pts * (hi - lo) + lo
            out.append(ProgramOp(HISTOGRAM_SHIFT.code, (float(pts.size), *xs.tolist(), *ys.tolist()), channel=c))
        return out

    def output_range(self, params: Params, in_range: tuple[float, float] | None) -> tuple[float, float] | None:
        """The map keeps the range's ends."""
        return in_range if self.value_range is None else (float(self.value_range[0]), float(self.value_range[1]))
