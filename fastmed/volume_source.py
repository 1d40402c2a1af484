"""The lazy-volume protocol: an image that reads only the box asked for.

A :class:`LazyVolume` is what a dataset item holds instead of an array (see
:class:`fastmed.store.dataset.VolumeDataset`): the shape, dtype, spacing and per-volume
statistics are known without reading voxels, and :meth:`LazyVolume.read_window` returns one
box. A pipeline that knows which input voxels its output patch can touch (its source
footprint) reads that box only. Implementations: :class:`fastmed.store.window.StoreVolume`
(a series of a fastmed store: only the chunks the box overlaps are read) and
:class:`fastmed.store.dicom_volume.SeriesVolume` (a manifest series, decoded on first read).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, _ProtocolMeta, runtime_checkable

import numpy as np
import numpy.typing as npt

STAT_NAMES = ("p0_5", "p99_5", "mean", "std", "min", "max")
"""Names in :attr:`LazyVolume.stats` of an image: 0.5th / 99.5th percentile (numpy's linear
method), mean, standard deviation, minimum and maximum over every voxel (a label has none)."""


MEMBERS = ("shape", "dtype", "spacing", "stats", "read_window")
"""The members a :class:`LazyVolume` has."""


def is_lazy_volume(obj: Any) -> bool:
    """Whether ``obj`` has every member of :class:`LazyVolume`, found without reading any of them.

    Members are looked up statically (``inspect.getattr_static``: the instance's own
    attributes and its class's), so no property runs: on Python 3.11 a plain
    ``isinstance`` against a runtime-checkable protocol calls ``hasattr``, which evaluates
    properties, and a :class:`~fastmed.store.dicom_volume.SeriesVolume`'s ``stats`` decodes
    its whole series. ``isinstance(obj, LazyVolume)`` uses this check too.
    """
    for name in MEMBERS:
        try:
            inspect.getattr_static(obj, name)
        except AttributeError:
            return False
    return True


class _StaticCheck(_ProtocolMeta):
    """``isinstance(obj, LazyVolume)`` by :func:`is_lazy_volume` (what Python 3.12 does), never by reading."""

    def __instancecheck__(cls, obj: Any) -> bool:
        if cls is LazyVolume:
            return is_lazy_volume(obj)
        return super().__instancecheck__(obj)


@runtime_checkable
class LazyVolume(Protocol, metaclass=_StaticCheck):
    """A volume that is read box by box.

    Attributes
    ----------
    shape
        ``(z, y, x)`` for 3D, ``(y, x)`` for 2D; no channel axis.
    dtype
        Voxel type of what :meth:`read_window` returns (native byte order).
    spacing
        Voxel size in mm per axis, same order as ``shape``.
    stats
        Per-volume intensity statistics stored at conversion (names in :data:`STAT_NAMES`);
        empty for a label.
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    spacing: tuple[float, ...]
    stats: Mapping[str, float]

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> npt.NDArray[Any]:
        """The half-open box ``[lo, hi)`` (inside the volume) as a C-contiguous array of shape ``hi - lo``."""
        ...
