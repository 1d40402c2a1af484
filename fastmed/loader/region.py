"""A lazy volume that reads one region of another once and serves every window inside it.

With ``samples_per_volume=k`` the loader plans the ``k`` patches of a volume, takes the union
of their source footprints and hands each patch a :class:`RegionVolume` on it: the first
window asked for reads the whole region (one read of the store), later ones are slices of
it. A window outside the region (not planned for) is read from the volume itself. The
windows are the same voxels either way, so the patches equal those read one by one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


class RegionVolume:
    """A :class:`~fastmed.volume_source.LazyVolume` over ``base`` that caches the box ``[lo, hi)``.

    Parameters
    ----------
    base
        The lazy volume.
    lo, hi
        The region, half-open, inside ``base``.

    Attributes
    ----------
    reads
        Reads of ``base`` made through this view (1 once the region is in memory, more for
        windows outside it).
    """

    def __init__(self, base: Any, lo: Sequence[int], hi: Sequence[int]):
        self.base = base
        self.lo = tuple(int(v) for v in lo)
        self.hi = tuple(int(v) for v in hi)
        self.shape: tuple[int, ...] = tuple(base.shape)
        self.dtype: np.dtype[Any] = base.dtype
        self.spacing: tuple[float, ...] = tuple(base.spacing)
        self.stats = base.stats
        self.reads = 0
        self._data: npt.NDArray[Any] | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("base", "_data", "_lock"):
            raise AttributeError(name)
        return getattr(self.base, name)  # series_id, chunks_read ... of the handle

    def __repr__(self) -> str:
        return f"RegionVolume({self.base!r}, [{self.lo}, {self.hi}))"

    def _inside(self, lo: Sequence[int], hi: Sequence[int]) -> bool:
        return all(a <= x <= y <= b for a, x, y, b in zip(self.lo, lo, hi, self.hi, strict=True))

    def region(self) -> npt.NDArray[Any]:
        """The whole region (read on first use)."""
        with self._lock:
            if self._data is None:
                self._data = np.asarray(self.base.read_window(self.lo, self.hi))
                self.reads += 1
            return self._data

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> npt.NDArray[Any]:
        """The box ``[lo, hi)``: a slice of the region when inside it, else a read of the volume."""
        if len(lo) != len(self.lo) or len(hi) != len(self.hi) or not self._inside(lo, hi):
            self.reads += 1
            return np.asarray(self.base.read_window(lo, hi))
        data = self.region()
        box = tuple(slice(x - a, y - a) for a, x, y in zip(self.lo, lo, hi, strict=True))
        return np.ascontiguousarray(data[box])

    def read(self) -> npt.NDArray[Any]:
        """The whole volume."""
        return self.read_window((0,) * len(self.shape), self.shape)
