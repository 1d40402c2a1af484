"""Lazy test volumes for the patch-sampler tests: numpy arrays behind a counting LazyVolume, store-like summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastmed.store.stats import foreground_summary


class CountingVolume:
    """A LazyVolume over an in-memory array that records every window read (box and voxels)."""

    def __init__(self, array: np.ndarray, spacing: Sequence[float] | None = None):
        self.array = array
        self.shape = tuple(array.shape)
        self.dtype = array.dtype
        self.spacing = tuple(spacing) if spacing is not None else (1.0,) * array.ndim
        self.stats: dict[str, float] = {}
        self.reads: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> np.ndarray:
        lo, hi = tuple(int(v) for v in lo), tuple(int(v) for v in hi)
        assert all(0 <= a <= b <= n for a, b, n in zip(lo, hi, self.shape, strict=True)), (lo, hi, self.shape)
        self.reads.append((lo, hi))
        return np.ascontiguousarray(self.array[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))])


def blob_pair(i: int, shape: tuple[int, ...], blobs: int = 1, radius: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """An int16 image (a ramp plus a bright blob) and an uint8 label of ``blobs`` small balls, labels 1, 2, ..."""
    rng = np.random.default_rng(1000 + i)
    grids = np.indices(shape)
    image = (sum((k + 1) * g for k, g in enumerate(grids)) % 97).astype(np.int16)
    label = np.zeros(shape, np.uint8)
    for b in range(blobs):
        centre = [int(rng.integers(radius, n - radius)) for n in shape]
        ball = sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True)) <= radius**2
        label[ball] = b + 1
        image[ball] += 500
    return image, label


class LazyVolumes:
    """A map-style dataset of lazy image/label volumes with a store-like ``foreground(index)``.

    Parameters
    ----------
    shapes
        One spatial shape per volume.
    blobs
        Label values per volume (0: no foreground).
    summaries
        Whether :meth:`foreground` exists (a store keeps the summary; other datasets do not).
    """

    def __init__(self, shapes: Sequence[tuple[int, ...]], blobs: int | Sequence[int] = 1, summaries: bool = True):
        counts = [blobs] * len(shapes) if isinstance(blobs, int) else list(blobs)
        pairs = [blob_pair(i, tuple(s), c) for i, (s, c) in enumerate(zip(shapes, counts, strict=True))]
        self.images = [CountingVolume(a) for a, _ in pairs]
        self.labels = [CountingVolume(b) for _, b in pairs]
        self.summaries = [foreground_summary(b) for _, b in pairs]
        if not summaries:
            self.foreground = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return {"image": self.images[index], "label": self.labels[index], "id": f"v{index}"}

    def foreground(self, index: int) -> dict[str, Any]:
        return self.summaries[index]

    def image_reads(self) -> list[int]:
        """Reads of every image so far."""
        return [len(v.reads) for v in self.images]
