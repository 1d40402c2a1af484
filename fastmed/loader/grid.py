"""Grid sampling for sliding-window inference: every patch of a regular, overlapping grid over a volume.

:class:`GridPatches` lays MONAI's sliding-window grid (``monai.inferers.sliding_window_inference``)
over a volume and reads each patch's window only: from a
:class:`~fastmed.volume_source.LazyVolume` (a store volume decodes only the chunks under the
window), a :class:`~fastmed.Volume`, or an array. Where a patch leaves the volume (an axis
shorter than the patch) it is padded with a constant, centred as MONAI pads. Locations are
patch start corners in the volume's own voxel indices (negative where padded), the key
:class:`~fastmed.loader.aggregate.PatchAggregator` blends outputs back with.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.volume import Volume
from fastmed.volume_source import LazyVolume

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Geometry:
    """Where a volume's voxels lie in patient space (see :class:`~fastmed.Volume`).

    Parameters
    ----------
    spacing
        mm per array axis.
    origin
        LPS position (x, y, z) of voxel index 0, mm.
    direction
        3x3; columns are the LPS unit vectors of the array's x, y and z axes.
    """

    spacing: tuple[float, ...]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: npt.NDArray[np.float64] = field(default_factory=lambda: np.eye(3))


def _as_tuple(v: float | Sequence[float], n: int, name: str) -> tuple[float, ...]:
    t = tuple(float(x) for x in v) if isinstance(v, Sequence) else (float(v),) * n
    if len(t) != n:
        raise ValueError(f"{name} has {len(t)} values for {n} spatial axes")
    return t


def grid_starts(shape: Sequence[int], patch_size: Sequence[int], overlap: float | Sequence[float] = 0.25) -> IntArray:
    """Start corners of the sliding-window grid, ``(n_patches, ndim)``, in C order.

    MONAI's grid (``dense_patch_slices`` with ``_get_scan_interval``): an axis shorter than
    the patch is padded to the patch size (``diff // 2`` before); the step is
    ``int(patch * (1 - overlap))`` (at least 1; the whole axis when it equals the patch);
    the last patch of an axis is moved back to end at the (padded) border.

    Parameters
    ----------
    shape
        Spatial shape of the volume.
    patch_size
        Patch size per axis (positive).
    overlap
        Fraction of a patch shared with its neighbour, in ``[0, 1)``, one value or one per axis.

    Returns
    -------
    numpy.ndarray
        int64 starts in the volume's voxel indices (negative on a padded axis).
    """
    nd = len(shape)
    if len(patch_size) != nd or any(int(p) < 1 for p in patch_size):
        raise ValueError(f"patch_size {tuple(patch_size)} must have {nd} positive sizes")
    ov = _as_tuple(overlap, nd, "overlap")
    if any(not 0.0 <= o < 1.0 for o in ov):
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    per_axis = []
    for n, p, o in zip((int(s) for s in shape), (int(p) for p in patch_size), ov, strict=True):
        size = max(n, p)
        before = (size - n) // 2
        step = p if p == size else max(int(p * (1 - o)), 1)
        count = next((d + 1 for d in range(math.ceil(size / step)) if d * step + p >= size), 1)
        per_axis.append([min(d * step, size - p) - before for d in range(count)])
    grids = np.meshgrid(*per_axis, indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)


def geometry_of(source: Any, ndim: int) -> Geometry:
    """The patient-space geometry of ``source`` (unit spacing, origin 0, identity for a bare array)."""
    if isinstance(source, Volume):
        return Geometry(tuple(source.spacing), tuple(source.origin), np.asarray(source.direction))  # type: ignore[arg-type]
    spacing = tuple(float(s) for s in getattr(source, "spacing", (1.0,) * ndim))
    origin = getattr(source, "origin", None)
    direction = getattr(source, "direction", None)
    if origin is None and hasattr(source, "store") and hasattr(source, "series_id"):
        from fastmed.store.reader import Store  # a StoreVolume: the table row has the rest

        row = Store(source.store).row(source.series_id)
        origin, direction = row.get("origin"), row.get("direction")
    elif origin is None and callable(getattr(source, "volume", None)):
        vol = source.volume()  # a manifest SeriesVolume: its decoded Volume has the geometry
        origin, direction = vol.origin, vol.direction
    o = tuple(float(v) for v in origin) if origin is not None else (0.0, 0.0, 0.0)
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3) if direction is not None else np.eye(3)
    return Geometry(spacing, o, d)  # type: ignore[arg-type]


class GridPatches:
    """Every patch of a sliding-window grid over one volume, with its location.

    A map-style dataset (``len`` / ``[i]``; ``fm.DataLoader`` and torch's take it as it is)
    and a batched iterator (:meth:`batches`). Each patch reads only its window of the source.

    Parameters
    ----------
    source
        A :class:`~fastmed.volume_source.LazyVolume` (e.g. a store volume), a
        :class:`~fastmed.Volume`, or an array (numpy, or anything ``numpy.asarray`` takes,
        such as a CPU tensor) of shape ``(*spatial)`` or channel-first ``(C, *spatial)``;
        ``len(patch_size)`` says which.
    patch_size
        Patch size per spatial axis.
    overlap
        Fraction of a patch shared with its neighbour per axis, in ``[0, 1)``.
    pad_value
        Value of voxels outside the volume (MONAI's ``cval``).

    Attributes
    ----------
    locations
        ``(len(self), ndim)`` int64 start corners, in the volume's voxel indices.
    shape
        Spatial shape of the volume.
    channels
        Channels of every patch (1 for a lazy volume or a ``Volume``).
    geometry
        The volume's :class:`Geometry` (spacing, origin, direction; see :func:`geometry_of`).

    Notes
    -----
    An item is ``{"image": (C, *patch_size) array of the source dtype, "location": (ndim,) int64}``.

    Examples
    --------
    >>> grid = GridPatches(np.zeros((40, 50)), (32, 32), overlap=0.5)
    >>> len(grid), grid[0]["image"].shape
    (6, (1, 32, 32))
    """

    def __init__(
        self,
        source: Any,
        patch_size: Sequence[int],
        overlap: float | Sequence[float] = 0.25,
        pad_value: float = 0.0,
    ):
        self.patch_size = tuple(int(p) for p in patch_size)
        nd = len(self.patch_size)
        self._lazy: LazyVolume | None = None
        self._array: npt.NDArray[Any] | None = None
        if isinstance(source, Volume):
            self._array = np.asarray(source.array)[None]
        elif isinstance(source, LazyVolume) or callable(getattr(source, "read_window", None)):
            self._lazy = source
        else:
            arr = _to_numpy(source)
            if arr.ndim == nd:
                arr = arr[None]
            if arr.ndim != nd + 1:
                raise ValueError(f"array of shape {arr.shape} for {nd}-D patches: expected (*spatial) or (C, *spatial)")
            self._array = arr
        if self._lazy is not None:
            self.shape = tuple(int(s) for s in self._lazy.shape)
            self.channels = 1
            self.dtype = np.dtype(self._lazy.dtype)
        else:
            assert self._array is not None
            self.shape = tuple(int(s) for s in self._array.shape[1:])
            self.channels = int(self._array.shape[0])
            self.dtype = self._array.dtype
        if len(self.shape) != nd:
            raise ValueError(f"a {len(self.shape)}-D volume for {nd}-D patches {self.patch_size}")
        self.overlap = overlap
        self.pad_value = float(pad_value)
        self.locations = grid_starts(self.shape, self.patch_size, overlap)
        self._source = source

    @property
    def geometry(self) -> Geometry:
        """The volume's geometry (spacing, origin, direction)."""
        return geometry_of(self._source, len(self.shape))

    def __len__(self) -> int:
        return int(self.locations.shape[0])

    def __repr__(self) -> str:
        return f"GridPatches(shape={self.shape}, patch_size={self.patch_size}, overlap={self.overlap}, n={len(self)})"

    def __getitem__(self, i: int) -> dict[str, npt.NDArray[Any]]:
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"patch {i} of a grid of {n}")
        loc = self.locations[int(i)]
        return {"image": self.read_patch(loc), "location": loc.copy()}

    def read_patch(self, location: Sequence[int], out: npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
        """The patch starting at ``location``, ``(C, *patch_size)``; only its window of the source is read.

        Parameters
        ----------
        location
            Start corner in voxel indices (may lie outside the volume: the rest is ``pad_value``).
        out
            An array of that shape and the source dtype to fill (else a new one).
        """
        want = (self.channels, *self.patch_size)
        if out is None:
            out = np.empty(want, dtype=self.dtype)
        elif out.shape != want:
            raise ValueError(f"out has shape {out.shape}, expected {want}")
        lo = [max(int(a), 0) for a in location]
        hi = [min(int(a) + p, s) for a, p, s in zip(location, self.patch_size, self.shape, strict=True)]
        if any(a >= b for a, b in zip(lo, hi, strict=True)):
            out[...] = self.pad_value
            return out
        dst = tuple(slice(a - int(s), b - int(s)) for a, b, s in zip(lo, hi, location, strict=True))
        inside = all(
            a - int(s) == 0 and b - a == p for a, b, s, p in zip(lo, hi, location, self.patch_size, strict=True)
        )
        if not inside:
            out[...] = self.pad_value
        if self._lazy is not None:
            first: tuple[int | slice, ...] = (0, *dst)
            out[first] = self._lazy.read_window(lo, hi)
        else:
            assert self._array is not None
            src = (slice(None), *(slice(a, b) for a, b in zip(lo, hi, strict=True)))
            out[(slice(None), *dst)] = self._array[src]
        return out

    def batches(self, batch_size: int = 4) -> Iterator[tuple[npt.NDArray[Any], IntArray]]:
        """Patches in grid order, ``batch_size`` at a time (the last batch may be smaller).

        Yields
        ------
        tuple
            ``(images, locations)``: ``(B, C, *patch_size)`` in the source dtype (each patch read
            straight into its slot) and ``(B, ndim)`` int64 starts.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        for k in range(0, len(self), batch_size):
            locs = self.locations[k : k + batch_size]
            images = np.empty((len(locs), self.channels, *self.patch_size), dtype=self.dtype)
            for j, loc in enumerate(locs):
                self.read_patch(loc, out=images[j])
            yield images, locs.copy()


def _to_numpy(source: Any) -> npt.NDArray[Any]:
    """``source`` as a numpy array (a torch tensor is detached and brought to the CPU first)."""
    if hasattr(source, "detach") and hasattr(source, "cpu"):
        source = source.detach().cpu().numpy()
    return np.asarray(source)
