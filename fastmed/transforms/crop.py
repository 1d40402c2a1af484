"""RandomCrop and CenterCrop: choose the patch box (padding where it leaves the image)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastmed.errors import TransformError
from fastmed.rng import BatchRNG, KeyedRNG
from fastmed.transforms._geometry import translation
from fastmed.transforms.base import BatchSteps, Context, Params, SpatialOp, SpatialStep, register
from fastmed.transforms.plan import PAD_MODES


def _check(name: str, size: tuple[int, ...], pad_mode: str) -> None:
    if not size or any(int(s) < 1 for s in size):
        raise TransformError(f"{name}: size must be positive integers, got {size!r}")
    if pad_mode not in PAD_MODES:
        raise TransformError(f"{name}: pad_mode must be one of {sorted(PAD_MODES)}, got {pad_mode!r}")


def _size_for(name: str, size: tuple[int, ...], ctx: Context) -> tuple[int, ...]:
    if len(size) != ctx.ndim:
        raise TransformError(f"{name}: size {size} has {len(size)} axes for a {ctx.ndim}-D sample")
    return tuple(int(s) for s in size)


@register
@dataclass(frozen=True)
class RandomCrop(SpatialOp):
    """A patch of ``size`` voxels at a uniformly random position.

    Where the image is smaller than the patch along an axis, the image lands at a
    random offset inside the patch and the rest is padded.

    Parameters
    ----------
    size
        Patch size per spatial axis.
    pad_mode
        ``"constant"`` (with ``pad_value``), ``"edge"`` or ``"reflect"``: what the
        pipeline reads outside the image (the last crop that sets it wins).
    pad_value
        Value of constant padding.
    """

    size: tuple[int, ...]
    pad_mode: str = "constant"
    pad_value: float = 0.0

    def __post_init__(self) -> None:
        _check(type(self).__name__, self.size, self.pad_mode)

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw the start voxel of the box per axis."""
        size = _size_for(type(self).__name__, self.size, ctx)
        start = []
        for n, s in zip(ctx.shape, size, strict=True):
            lo, hi = min(0, n - s), max(0, n - s)
            start.append(int(rng.integers(lo, hi + 1)))
        return {"start": start}

    def draw_batch(self, rng: BatchRNG, ctxs: Sequence[Context]) -> list[Params]:
        """:meth:`sample_params` of every row: one integer per axis, drawn in axis order."""
        size = np.asarray([_size_for(type(self).__name__, self.size, c) for c in ctxs], dtype=np.int64)
        free = np.asarray([c.shape for c in ctxs], dtype=np.int64).reshape(size.shape) - size
        start = rng.integers(np.minimum(0, free), np.maximum(0, free) + 1, size=size.shape[1])
        return [{"start": row} for row in start.tolist()]

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """A translation by the start voxel."""
        size = _size_for(type(self).__name__, self.size, ctx)
        return SpatialStep(translation(params["start"]), size, ctx.spacing)

    def steps(self, params: Sequence[Params], ctxs: Sequence[Context]) -> BatchSteps:
        """:meth:`step` of every row."""
        return _translations(type(self).__name__, self.size, params, ctxs)

    def padding(self) -> tuple[str, float] | None:
        """Padding requested by this crop."""
        return (self.pad_mode, float(self.pad_value))


def _translations(name: str, size: tuple[int, ...], params: Sequence[Params], ctxs: Sequence[Context]) -> BatchSteps:
    """Translations by each row's start voxel (the crops' :meth:`~RandomCrop.step`, stacked)."""
    d = ctxs[0].ndim
    patch = _size_for(name, size, ctxs[0])
    m = np.zeros((len(ctxs), d + 1, d + 1))
    m[:, range(d + 1), range(d + 1)] = 1.0
    m[:, :d, d] = [p["start"] for p in params]
    return BatchSteps(m, [patch] * len(ctxs), [c.spacing for c in ctxs])


@register
@dataclass(frozen=True)
class CenterCrop(SpatialOp):
    """The centred patch of ``size`` voxels (start ``(shape - size) // 2``, padded where needed).

    Parameters
    ----------
    size
        Patch size per spatial axis.
    pad_mode, pad_value
        As for :class:`RandomCrop`.
    """

    size: tuple[int, ...]
    pad_mode: str = "constant"
    pad_value: float = 0.0

    def __post_init__(self) -> None:
        _check(type(self).__name__, self.size, self.pad_mode)

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """The centred start (no randomness)."""
        size = _size_for(type(self).__name__, self.size, ctx)
        start: list[Any] = [int(np.floor_divide(n - s, 2)) for n, s in zip(ctx.shape, size, strict=True)]
        return {"start": start}

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """A translation by the start voxel."""
        size = _size_for(type(self).__name__, self.size, ctx)
        return SpatialStep(translation(params["start"]), size, ctx.spacing)

    def steps(self, params: Sequence[Params], ctxs: Sequence[Context]) -> BatchSteps:
        """:meth:`step` of every row."""
        return _translations(type(self).__name__, self.size, params, ctxs)

    def padding(self) -> tuple[str, float] | None:
        """Padding requested by this crop."""
        return (self.pad_mode, float(self.pad_value))
