"""Patch samplers: where in a volume a training patch is cut, a pure function of (seed, epoch, index).

A sampler is configuration (a frozen dataclass). :meth:`PatchSampler.locate` gets the
sample's key ``(seed, epoch, index)``, what is known of the volume without reading it
(:class:`PatchSource`: its shape, the store's foreground summary, the label handle) and
whether this sample is one of the batch's forced-foreground samples; it returns the
patch's first voxel per axis. The loader turns that into the first spatial step of the
sample's plan (a translation: ``fastmed.loader.patch_compose``), so only the patch's
source footprint is read and borders pad exactly as :class:`~fastmed.transforms.RandomCrop`
pads.

- :class:`RandomPatchSampler`: uniform over every position (RandomCrop's distribution).
- :class:`LabelPatchSampler`: nnU-Net's oversampling. In every batch the last
  ``round(B * foreground_prob)`` samples are centred on a foreground voxel of a label
  value drawn uniformly among those present; the voxel is drawn from the store's coarse
  foreground summary (a cell weighted by its voxel count) and then exactly inside that
  cell (one small label read). The patch is shifted back inside the volume where it
  would stick out (as nnU-Net clamps its boxes), which keeps the voxel inside it.
  Volumes without foreground fall back to a random patch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms.plan import PAD_MODES

PATCH_STREAM = 0x7FFF0001
"""RNG stream of patch locations (apart from the op streams 0, 1, ... of a pipeline)."""


@dataclass(frozen=True)
class PatchSource:
    """What a sampler may know about one volume.

    Parameters
    ----------
    shape
        Spatial shape ``(D, H, W)`` or ``(H, W)``.
    foreground
        The store's foreground summary (:func:`fastmed.store.stats.foreground_summary`) or ``None``.
    label
        The label: a lazy volume (no channel axis), a channel-first array, or ``None``.
    name
        How errors name the volume (``"volume 3"``).
    """

    shape: tuple[int, ...]
    foreground: Mapping[str, Any] | None = None
    label: Any = None
    name: str = "volume"


@runtime_checkable
class PatchSampler(Protocol):
    """The protocol ``fm.DataLoader(patch_sampler=...)`` takes.

    Attributes
    ----------
    size
        Patch size per spatial axis.
    pad_mode, pad_value
        Padding where the patch leaves the volume (``pad_mode=None``: a patch larger than
        the volume is an error).
    needs_foreground
        Whether :meth:`locate` uses :attr:`PatchSource.foreground` for forced samples.
    """

    size: tuple[int, ...]
    pad_mode: str | None
    pad_value: float

    @property
    def needs_foreground(self) -> bool:
        """Whether forced samples use the foreground summary."""
        ...

    def forced_count(self, batch_len: int) -> int:
        """How many of a batch's ``batch_len`` samples (its last ones) are forced to foreground."""
        ...

    def locate(self, seed: int, epoch: int, index: int, source: PatchSource, forced: bool) -> tuple[int, ...]:
        """The patch's first voxel per axis (may be negative or past the end where it pads)."""
        ...


def _check_size(name: str, size: Sequence[int], pad_mode: str | None) -> tuple[int, ...]:
    if isinstance(size, int) or not size or any(isinstance(s, bool) or int(s) != s or int(s) < 1 for s in size):
        raise TransformError(f"{name}: size must be a tuple of positive integers, got {size!r}")
    if pad_mode is not None and pad_mode not in PAD_MODES:
        raise TransformError(f"{name}: pad_mode must be one of {sorted(PAD_MODES)} or None, got {pad_mode!r}")
    return tuple(int(s) for s in size)


def start_range(size: Sequence[int], source: PatchSource, pad_mode: str | None) -> list[tuple[int, int]]:
    """Per axis, the inclusive range of first voxels (RandomCrop's: inside the volume where the patch fits).

    Raises
    ------
    TransformError
        The patch and the volume differ in dimensions, or the patch is larger than the volume
        along an axis and ``pad_mode`` is ``None``.
    """
    shape = source.shape
    if len(size) != len(shape):
        raise TransformError(f"patch size {tuple(size)} has {len(size)} axes, {source.name} has shape {shape}")
    out = []
    for axis, (n, s) in enumerate(zip(shape, size, strict=True)):
        if s > n and pad_mode is None:
            raise TransformError(
                f"patch size {tuple(size)} is larger than {source.name} of shape {shape} along axis {axis} "
                "and the sampler has pad_mode=None (no padding)"
            )
        out.append((min(0, n - s), max(0, n - s)))
    return out


def _uniform(rng: KeyedRNG, ranges: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(int(rng.integers(lo, hi + 1)) for lo, hi in ranges)


@dataclass(frozen=True)
class RandomPatchSampler:
    """Patches of ``size`` voxels at uniformly random positions.

    Parameters
    ----------
    size
        Patch size per spatial axis.
    pad_mode
        ``"constant"``, ``"edge"`` or ``"reflect"``: how a volume smaller than the patch
        is padded (it lands at a random offset inside the patch, as with RandomCrop);
        ``None``: such a volume is an error naming the sample.
    pad_value
        Value of constant padding.

    Examples
    --------
    >>> s = RandomPatchSampler((8, 8, 8))
    >>> src = PatchSource((20, 30, 40))
    >>> s.locate(0, 0, 3, src) == s.locate(0, 0, 3, src)
    True
    """

    size: tuple[int, ...]
    pad_mode: str | None = "constant"
    pad_value: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", _check_size(type(self).__name__, self.size, self.pad_mode))

    @property
    def needs_foreground(self) -> bool:
        """Never: every patch is uniform."""
        return False

    def forced_count(self, batch_len: int) -> int:
        """No sample is forced."""
        return 0

    def locate(self, seed: int, epoch: int, index: int, source: PatchSource, forced: bool = False) -> tuple[int, ...]:
        """A uniform first voxel per axis, from ``(seed, epoch, index)`` only."""
        ranges = start_range(self.size, source, self.pad_mode)
        return _uniform(KeyedRNG(seed, epoch, index, PATCH_STREAM), ranges)


@dataclass(frozen=True)
class LabelPatchSampler:
    """nnU-Net's foreground oversampling: the last ``round(B * foreground_prob)`` samples of a batch hold foreground.

    Parameters
    ----------
    size
        Patch size per spatial axis.
    foreground_prob
        Fraction of every batch forced onto foreground (nnU-Net's ``oversample_foreground_percent``).
    labels
        Label values to centre on (``None``: every non-zero value present in the volume).
    pad_mode, pad_value
        As for :class:`RandomPatchSampler`.

    Notes
    -----
    A forced patch draws a label value uniformly among those present (and listed), a cell
    of the store's foreground summary weighted by its voxel count, and a voxel of that
    value inside the cell (the cell's box of the label is read: a few chunks). The patch
    is centred on it, then shifted inside the volume where it fits (so the voxel stays in
    the patch). Without a summary (datasets other than a store) it is computed from the
    whole label once per volume and process.
    """

    size: tuple[int, ...]
    foreground_prob: float = 0.33
    labels: tuple[int, ...] | None = None
    pad_mode: str | None = "constant"
    pad_value: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", _check_size(type(self).__name__, self.size, self.pad_mode))
        p = self.foreground_prob
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= float(p) <= 1.0:
            raise TransformError(f"LabelPatchSampler: foreground_prob must be in [0, 1], got {p!r}")
        if self.labels is not None:
            if isinstance(self.labels, int) or not all(isinstance(v, int | np.integer) for v in self.labels):
                raise TransformError(f"LabelPatchSampler: labels must be a tuple of integers, got {self.labels!r}")
            object.__setattr__(self, "labels", tuple(int(v) for v in self.labels))

    @property
    def needs_foreground(self) -> bool:
        """Whether any sample is forced."""
        return self.foreground_prob > 0

    def forced_count(self, batch_len: int) -> int:
        """``round(batch_len * foreground_prob)`` (halves round up)."""
        return int(np.floor(batch_len * float(self.foreground_prob) + 0.5))

    def locate(self, seed: int, epoch: int, index: int, source: PatchSource, forced: bool = False) -> tuple[int, ...]:
        """A foreground-centred first voxel when ``forced`` (and the volume has foreground), else a uniform one."""
        ranges = start_range(self.size, source, self.pad_mode)
        rng = KeyedRNG(seed, epoch, index, PATCH_STREAM)
        voxel = foreground_voxel(rng, source, self.labels) if forced else None
        if voxel is None:
            return _uniform(rng, ranges)
        return tuple(int(min(max(v - s // 2, lo), hi)) for v, s, (lo, hi) in zip(voxel, self.size, ranges, strict=True))


def _read_box(label: Any, lo: Sequence[int], hi: Sequence[int]) -> npt.NDArray[Any]:
    """The box ``[lo, hi)`` of a label: a lazy volume's window, or a slice of a channel-first array."""
    from fastmed.transforms.sample_access import is_lazy

    if is_lazy(label):
        return np.asarray(label.read_window(tuple(lo), tuple(hi)))
    arr = np.asarray(label)
    arr = arr[0] if arr.ndim == len(lo) + 1 else arr
    return arr[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]


def foreground_voxel(
    rng: KeyedRNG, source: PatchSource, labels: tuple[int, ...] | None = None
) -> tuple[int, ...] | None:
    """A foreground voxel drawn as :class:`LabelPatchSampler` documents, or ``None`` (no foreground known)."""
    summary, label = source.foreground, source.label
    if not summary or label is None or not summary.get("labels"):
        return None
    present = sorted(
        (int(k), v)
        for k, v in summary["labels"].items()
        if int(v.get("voxels", 0)) > 0 and v.get("cells") and (labels is None or int(k) in labels)
    )
    if not present:
        return None
    value, info = present[int(rng.integers(0, len(present)))]
    cells = np.asarray(info["cells"], dtype=np.int64)
    ndim = len(source.shape)
    skip = cells.shape[1] - 1 - ndim  # a 2D image is stored (1, y, x): drop the leading axis
    cell = np.asarray(summary["cell"], dtype=np.int64)[skip:]
    weights = np.cumsum(cells[:, -1].astype(np.float64))
    pick = int(np.searchsorted(weights, float(rng.random()) * weights[-1], side="right"))
    idx = cells[min(pick, len(cells) - 1), skip:-1]
    lo = idx * cell
    hi = np.minimum(lo + cell, np.asarray(source.shape, dtype=np.int64))
    box = _read_box(label, lo.tolist(), hi.tolist())
    hits = np.flatnonzero(box == value)
    if hits.size == 0:  # the summary does not match the label: fall back to a random patch
        return None
    flat = int(hits[int(rng.integers(0, hits.size))])
    return tuple(int(a + b) for a, b in zip(lo, np.unravel_index(flat, box.shape), strict=True))
