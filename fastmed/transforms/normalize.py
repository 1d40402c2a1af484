"""Normalize: fixed or per-sample z-score.

Per-sample statistics never take a full-volume pass. ``stats="source"`` (default)
estimates mean and std per channel from a strided subsample of the *source* volume
(at most ~32k voxels, the same points every time, restricted to ``mask_key > 0``
when given), passed through the deterministic intensity ops before this one; it is
the whole-image normalisation of nnU-Net at a sliver of its cost, and the same for
every patch of a volume. ``stats="patch"`` normalises with the statistics of the
output patch itself (MONAI's NormalizeIntensity after a crop): a patch pass that
splits the fused program.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastmed.errors import TransformError
from fastmed.transforms.base import Instr, IntensityContext, IntensityOp, Params, register
from fastmed.transforms.plan import OP_AFFINE, PatchNormalizePass, ProgramOp


@register
@dataclass(frozen=True)
class Normalize(IntensityOp):
    """``(v - mean) / std``: fixed values or per-sample statistics per channel.

    Parameters
    ----------
    mean, std
        Fixed statistics (both or neither); None means per sample.
    stats
        ``"source"`` (subsample of the source volume) or ``"patch"`` (the output patch).
    mask_key
        Sample key of a mask; source statistics use only voxels where it is > 0.
    eps
        Added to std.
    """

    stats_fields = ("mean", "std")  # statistics it reads (fastmed.transforms.stats)
    mean: float | None = None
    std: float | None = None
    stats: str = "source"
    mask_key: str | None = None
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise TransformError("Normalize: give both mean and std, or neither")
        if self.std is not None and not self.std > 0:
            raise TransformError("Normalize: std must be > 0")
        if self.stats not in ("source", "patch"):
            raise TransformError(f"Normalize: stats must be 'source' or 'patch', got {self.stats!r}")

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """An affine instruction per channel (or a patch pass)."""
        if self.mean is not None and self.std is not None:
            return [ProgramOp(OP_AFFINE, (1.0 / self.std, -self.mean / self.std))]
        if self.stats == "patch":
            return [PatchNormalizePass(eps=float(self.eps))]
        out: list[Instr] = []
        for c in range(ctx.channels):
            mean, std, _, _ = ctx.stats(c)
            s = std + self.eps
            out.append(ProgramOp(OP_AFFINE, (1.0 / s, -mean / s), channel=c))
        return out
