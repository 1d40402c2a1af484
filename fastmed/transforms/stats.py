"""Per-sample statistics without a full-volume pass.

Normalize, ScaleIntensity, RandomContrast and RandomGamma may need a sample's mean,
std, min or max. Where they come from, in order:

1. **Per-volume statistics supplied with the sample** (:func:`supplied_stats`):
   ``sample["stats"]`` or a :class:`~fastmed.volume_source.LazyVolume`'s ``stats`` (the
   store computes them at conversion), carried through the instructions before the op
   where that is exact (:func:`propagate`: an affine map moves all four, a clip moves
   min and max but loses mean and std). Used when the op has no mask and every field
   it reads (its ``stats_fields``) is known that way.
2. **The window** of a lazy volume: the box of the volume the patch can touch
   (:meth:`~fastmed.transforms.plan.SamplePlan.source_bbox`), read once for the patch
   anyway; subsampled as below. Never a read of the whole volume.
3. **A strided subsample of an in-memory source** (:func:`source_stats`; unchanged): the
   voxels on a regular strided grid of the whole array (at most ``max_voxels`` per
   channel; the same points every call), passed through the deterministic intensity
   instructions emitted before the op (noise and bias field left out). A 320x512x512
   volume costs ~32k voxel reads, not 84M; the estimate is the whole image's, like
   nnU-Net's normalisation, not the patch's.

In cases 2 and 3 the prefix instructions are applied to the subsample; in case 1 there is
no prefix. PatchNormalize (a patch pass) always uses the patch itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed._native import core
from fastmed.transforms.plan import OP_AFFINE, OP_BIAS_FIELD, OP_CLIP, OP_NOISE, IntensityProgram, ProgramOp

Stats = tuple[float, float, float, float]


def _to_host(a: Any) -> npt.NDArray[Any]:
    """A (small, already subsampled) array as numpy: CuPy arrays and torch tensors are fetched."""
    if type(a).__module__.startswith("cupy"):
        return np.asarray(a.get())
    if type(a).__module__.startswith("torch"):
        return np.asarray(a.detach().cpu().numpy())
    return np.asarray(a)


def subsample_step(shape: Sequence[int], max_voxels: int) -> int:
    """The smallest common stride whose grid has at most ``max_voxels`` points."""
    step = max(1, int(math.floor((float(np.prod(shape)) / max(1, max_voxels)) ** (1.0 / len(shape)))))
    while math.prod(-(-n // step) for n in shape) > max_voxels:
        step += 1
    return step


def source_stats(
    src: Any,
    prefix: Sequence[ProgramOp],
    key: tuple[int, int],
    index: int,
    mask: Any = None,
    max_voxels: int = 32768,
) -> list[Stats]:
    """Per-channel (mean, std, min, max) of ``src`` (C, D, H, W) after ``prefix``.

    Parameters
    ----------
    src
        The source array, any supported dtype, any strides (only the subsample is read;
        a CuPy array or torch tensor on a GPU sends only the subsample to the host).
    prefix
        Instructions applied before the statistics (noise and bias field skipped).
    key, index
        RNG key and sample index (unused by the deterministic ops; kept for the call).
    mask
        Optional (D, H, W) or (1, D, H, W) mask; only voxels where it is > 0 count.
    max_voxels
        Subsample size bound per channel.
    """
    step = subsample_step(src.shape[1:], max_voxels)
    sl = (slice(None), slice(None, None, step), slice(None, None, step), slice(None, None, step))
    # Always a copy: the prefix runs in place and must never touch the caller's volume.
    sub = np.array(_to_host(src[sl]), dtype=np.float32, order="C", copy=True)
    if prefix:
        prog = IntensityProgram.build(prefix)
        core.apply_program(sub, prog.ops, prog.params, key[0], key[1], index, True, 1)
    keep: npt.NDArray[np.bool_] | None = None
    if mask is not None:
        m = mask if hasattr(mask, "ndim") else np.asarray(mask)
        m = m.reshape(tuple(m.shape[-3:])) if m.ndim == 4 else m
        keep = _to_host(m[sl[1:]]) > 0
        if not keep.any():
            keep = None  # an empty mask falls back to every voxel
    out: list[Stats] = []
    for c in range(sub.shape[0]):
        v = sub[c][keep] if keep is not None else sub[c].ravel()
        v64 = v.astype(np.float64)
        out.append((float(v64.mean()), float(v64.std()), float(v64.min()), float(v64.max())))
    return out


_NEEDED = ("mean", "std", "min", "max")


def _as_stats(m: Any) -> Stats | None:
    if not isinstance(m, Mapping) or not all(k in m for k in _NEEDED):
        return None
    vals = tuple(float(m[k]) for k in _NEEDED)
    if not all(math.isfinite(v) for v in vals):
        return None
    return vals  # type: ignore[return-value]


def supplied_stats(sample: Mapping[str, Any], name: str, channels: int, first_image: str) -> list[Stats] | None:
    """Per-channel (mean, std, min, max) of ``sample[name]`` supplied with the sample, or None.

    Looked up in ``sample["stats"]`` (a mapping of statistic names for the first image key,
    a mapping from array key to such a mapping, or per key a list with one mapping per
    channel), then in a lazy volume's ``stats`` (one channel). Names are those of
    :data:`fastmed.volume_source.STAT_NAMES`; ``mean``, ``std``, ``min`` and ``max`` must all
    be present and finite, otherwise None (the statistics are then computed).
    """
    given = sample.get("stats")
    entry: Any = None
    if isinstance(given, Mapping):
        if name in given:
            entry = given[name]
        elif name == first_image and _as_stats(given) is not None:
            entry = given
    if entry is None:
        vol = sample.get(name)
        own = getattr(vol, "stats", None) if hasattr(vol, "read_window") else None
        entry = own if own else None
    if entry is None:
        return None
    per_channel = [entry] * channels if isinstance(entry, Mapping) and channels == 1 else entry
    if isinstance(per_channel, Mapping) or not isinstance(per_channel, Sequence) or len(per_channel) != channels:
        return None
    out = [_as_stats(m) for m in per_channel]
    return None if any(v is None for v in out) else out  # type: ignore[return-value]


STAT_FIELDS = ("mean", "std", "min", "max")
"""The fields of a :data:`Stats` tuple, in order; an op's ``stats_fields`` names those it reads."""


def propagate(stats: Stats, prefix: Sequence[ProgramOp], channel: int) -> tuple[float | None, ...] | None:
    """Per-volume ``stats`` of one channel carried through the deterministic ``prefix``.

    An affine instruction ``v * mul + add`` maps mean, std, min and max exactly; a clip maps
    min and max and makes mean and std unknown (None). Noise and bias field are left out,
    as in :func:`source_stats`. Any other instruction: None (nothing known).
    """
    mean: float | None
    std: float | None
    mean, std, lo, hi = stats
    for ins in prefix:
        if ins.channel not in (-1, channel) or ins.code in (OP_NOISE, OP_BIAS_FIELD):
            continue
        if ins.code == OP_AFFINE:
            mul, add = float(ins.params[0]), float(ins.params[1])
            mean = None if mean is None else mean * mul + add
            std = None if std is None else std * abs(mul)
            lo, hi = sorted((lo * mul + add, hi * mul + add))
        elif ins.code == OP_CLIP:
            a, b = float(ins.params[0]), float(ins.params[1])
            lo, hi = min(max(lo, a), b), min(max(hi, a), b)
            mean = std = None
        else:
            return None
    return (mean, std, lo, hi)
