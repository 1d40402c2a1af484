"""RandomGaussianNoise: additive noise drawn per voxel inside the kernel."""

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
from fastmed.transforms.plan import OP_NOISE, ProgramOp


@register
@dataclass(frozen=True)
class RandomGaussianNoise(IntensityOp):
    """Add ``std * N(0, 1)`` per voxel; ``std`` drawn per sample.

    The normals come from Philox inside the kernel: stream ``position |
    KERNEL_STREAM_BIT``, counter = voxel linear index in the output patch (C, D, H, W),
    four voxels per block (``fastmed._core.fill_normal``'s layout); so they do not
    depend on threads or device.

    Parameters
    ----------
    std
        Range to draw the standard deviation from.
    p
        Probability.
    """

    std: Any = (0.0, 0.1)
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "RandomGaussianNoise")
        if as_range(self.std, "std")[0] < 0:
            raise TransformError("RandomGaussianNoise: std must be >= 0")

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply and std."""
        apply = rng.bernoulli(self.p)
        return {"apply": apply, "std": float(rng.uniform(*as_range(self.std, "std")))}

    def draw_batch(self, rng: BatchRNG, ctxs: Sequence[Context]) -> list[Params]:
        """:meth:`sample_params` of every row in one draw."""
        return draw_fields(rng, self.p, [("std", *as_range(self.std, "std"))])

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One noise instruction on this op's stream."""
        if not params["apply"] or params["std"] == 0.0:
            return []
        return [ProgramOp(OP_NOISE, (params["std"],), stream=ctx.position)]
