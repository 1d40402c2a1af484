"""Per-sample statistics without a full-volume pass: a strided subsample of the source.

Normalize, ScaleIntensity, RandomContrast and RandomGamma may need a sample's mean,
std, min or max. They are estimated from the voxels on a regular strided grid of the
source volume (at most ``max_voxels`` per channel; the same points every call), passed
through the deterministic intensity instructions emitted before the op (noise and
bias field left out). A 320x512x512 volume costs ~32k voxel reads, not 84M; the
estimate is the whole image's, like nnU-Net's normalisation, not the patch's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed._native import core
from fastmed.transforms.plan import IntensityProgram, ProgramOp

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
