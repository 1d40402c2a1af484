"""Lazy volumes on a manifest series (no conversion): decoded with ``fm.read_series`` on first read.

Memory: the first :meth:`SeriesVolume.read_window` (or ``dtype`` / ``stats``) decodes the whole
series and keeps it in the handle, so a handle holds one decoded volume (e.g. 320×512×512
int16 = 168 MB) for as long as it lives; later windows are slices of it. A dataset item
makes fresh handles, so the volume is freed with the item. A mask handle keeps its mask the
same way and shares its image handle's decode (for the geometry check).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.dicom.manifest import ManifestRow
from fastmed.store.window import check_box
from fastmed.volume import Volume


class _Decoded:
    """What both handles share: the box and whole reads of an array decoded on first use."""

    shape: tuple[int, ...]

    def _array(self) -> npt.NDArray[Any]:
        raise NotImplementedError

    @property
    def dtype(self) -> np.dtype[Any]:
        """Voxel type (the first use decodes / loads the data)."""
        return self._array().dtype

    @property
    def ndim(self) -> int:
        """Number of axes of :attr:`shape`."""
        return len(self.shape)

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> npt.NDArray[Any]:
        """The box ``[lo, hi)`` as a C-contiguous copy (the first call decodes / loads the data)."""
        a, b = check_box(self.shape, lo, hi)
        return np.ascontiguousarray(self._array()[tuple(slice(x, y) for x, y in zip(a, b, strict=True))])

    def read(self) -> npt.NDArray[Any]:
        """The whole array."""
        return self.read_window((0,) * self.ndim, self.shape)


class SeriesVolume(_Decoded):
    """A :class:`~fastmed.volume_source.LazyVolume` on one manifest series, decoded on first read.

    ``shape`` and ``spacing`` come from the manifest (no decode); ``dtype`` and ``stats``
    (same names and method as the store's table) decode the series. A single-slice series
    ``(1, y, x)`` is shown as 2D ``(y, x)``, as in the store. Pickles as the manifest row
    (file paths), never voxels.

    Parameters
    ----------
    row
        A valid manifest row.
    threads
        Native threads for the DICOM decode (``None``: the pool's size).
    """

    def __init__(self, row: ManifestRow, threads: int | None = None):
        self.row = row
        self.threads = threads
        self.series_id = row.series_id
        self._flat = row.shape[0] == 1
        self.shape: tuple[int, ...] = tuple(int(n) for n in (row.shape[1:] if self._flat else row.shape))
        sp = tuple(float(s) for s in row.spacing)
        self.spacing: tuple[float, ...] = sp[1:] if self._flat else sp
        self._volume: Volume | None = None
        self._stats: dict[str, float] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (SeriesVolume, (self.row, self.threads))

    def __repr__(self) -> str:
        state = "decoded" if self._volume is not None else "not decoded"
        return f"SeriesVolume({self.series_id}, shape={self.shape}, {state})"

    def volume(self) -> Volume:
        """The decoded series (``fm.read_series`` of the row's files; decoded once, then kept)."""
        if self._volume is None:
            from fastmed.dicom.series_assembly import read_series

            self._volume = read_series(self.row.paths, series=self.series_id, threads=self.threads)
        return self._volume

    def _array(self) -> npt.NDArray[Any]:
        arr = self.volume().array
        return arr[0] if self._flat and arr.ndim == 3 else arr

    @property
    def stats(self) -> Mapping[str, float]:
        """Intensity statistics as the store computes them at conversion (decodes the series)."""
        if self._stats is None:
            from fastmed.store.stats import intensity_stats

            self._stats = intensity_stats(self._array())
        return self._stats


class MaskVolume(_Decoded):
    """A :class:`~fastmed.volume_source.LazyVolume` on a series' mask file (NIfTI or NumPy), loaded on first read.

    The mask is put on the image grid and checked against its geometry exactly as
    :func:`fastmed.convert` does (:func:`fastmed.store.masks.load_label`), so the label of a
    manifest item equals the store's ``label`` array.

    Parameters
    ----------
    image
        The series' image handle (its decode gives the geometry).
    path
        Absolute path of the mask file.
    """

    def __init__(self, image: SeriesVolume, path: str):
        self.image = image
        self.path = path
        self.series_id = image.series_id
        self.shape = image.shape
        self.spacing = image.spacing
        self.stats: Mapping[str, float] = {}
        self._mask: npt.NDArray[Any] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (MaskVolume, (self.image, self.path))

    def __repr__(self) -> str:
        return f"MaskVolume({self.series_id}, shape={self.shape})"

    def _array(self) -> npt.NDArray[Any]:
        if self._mask is None:
            from fastmed.store.masks import load_label

            vol = self.image.volume()
            geometry = {"spacing": list(vol.spacing), "origin": list(vol.origin), "direction": vol.direction}
            mask = load_label(self.path, vol.array.shape, geometry, self.series_id)
            self._mask = mask[0] if self.image._flat and mask.ndim == 3 else mask
        return self._mask
