"""Letterbox: resize to fit a fixed size, keeping the aspect ratio, and pad the rest (2D X-ray batches)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms._geometry import linear, translation
from fastmed.transforms.base import Context, Params, SpatialOp, SpatialStep, register


def letterbox_layout(shape: tuple[int, ...], size: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The resized image's shape and its start inside the output: ``(inner, offset)``.

    One scale ``min(size / shape)`` for every axis (voxel aspect kept); ``inner = round(n * scale)``
    (at least 1, at most the size); ``offset = (size - inner) // 2`` (centred, the extra voxel after).
    """
    scale = min(s / n for s, n in zip(size, shape, strict=True))
    inner = tuple(min(s, max(1, int(round(n * scale)))) for n, s in zip(shape, size, strict=True))
    offset = tuple((s - m) // 2 for s, m in zip(size, inner, strict=True))
    return inner, offset


@register
@dataclass(frozen=True)
class Letterbox(SpatialOp):
    """Fit the image into ``size`` voxels with one scale for every axis, centred, padded around.

    Every sample leaves with the same shape whatever its own, so images of any size batch
    together (radiographs: ``Letterbox((512, 512))``). The image is resampled as
    :class:`~fastmed.transforms.Resample` does, corner voxel centres aligned
    (``scipy.ndimage.zoom(..., grid_mode=False)``), to ``round(n * scale)`` voxels per axis with
    ``scale = min(size / shape)``, and placed at ``(size - inner) // 2``; the rest is
    ``pad_value``. When enlarging (scale > 1), the one voxel just outside the image on each side
    blends the border voxel with ``pad_value`` by linear interpolation (scipy's
    ``"grid-constant"`` mode); when shrinking, the padding is exactly ``pad_value``.
    Works for 2D and 3D samples (``len(size)`` axes); labels follow with nearest sampling.

    Parameters
    ----------
    size
        Output size per spatial axis.
    pad_value
        Value of the padding (the pipeline's padding becomes constant with this value).
    """

    size: tuple[int, ...]
    pad_value: float = 0.0

    def __post_init__(self) -> None:
        if not self.size or any(int(s) < 1 for s in self.size):
            raise TransformError(f"Letterbox: size must be positive integers, got {self.size!r}")

    def _size(self, ctx: Context) -> tuple[int, ...]:
        if len(self.size) != ctx.ndim:
            raise TransformError(f"Letterbox: size {self.size} has {len(self.size)} axes for a {ctx.ndim}-D sample")
        return tuple(int(s) for s in self.size)

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """The resized shape and its offset in the output (deterministic)."""
        inner, offset = letterbox_layout(tuple(ctx.shape), self._size(ctx))
        return {"inner": list(inner), "offset": list(offset)}

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """``in = (out - offset) * (n - 1) / (inner - 1)`` per axis (an axis resized to 1 voxel reads its centre)."""
        size = self._size(ctx)
        inner = [int(v) for v in params["inner"]]
        offset = [int(v) for v in params["offset"]]
        ratio = np.array([(n - 1) / (m - 1) if m > 1 else 1.0 for n, m in zip(ctx.shape, inner, strict=True)])
        shift = [
            -o * r + ((n - 1) / 2 if m == 1 else 0.0)
            for o, r, n, m in zip(offset, ratio, ctx.shape, inner, strict=True)
        ]
        spacing = tuple(
            float(s * r if m > 1 else s * n) for s, r, n, m in zip(ctx.spacing, ratio, ctx.shape, inner, strict=True)
        )
        return SpatialStep(translation(shift) @ linear(np.diag(ratio)), size, spacing)

    def padding(self) -> tuple[str, float] | None:
        """Constant padding with ``pad_value``."""
        return ("constant", float(self.pad_value))
