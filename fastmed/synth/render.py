"""Slice rendering: phantom + lesions + noise -> image values, and the stored-integer encoding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fastmed.rng import KeyedRNG
from fastmed.synth.geometry import SeriesGeometry
from fastmed.synth.lesions import Lesion, lesion_mask
from fastmed.synth.phantom import CT_HU, MR_T1, MR_T2, Anatomy, base_values, tissue_map

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Contrast:
    """How tissues look in one series: ``"CT"``, ``"T1"`` or ``"T2"``, and the noise level."""

    name: str
    noise: float

    @property
    def table(self) -> F64:
        """Value of each tissue class."""
        return {"CT": CT_HU, "T1": MR_T1, "T2": MR_T2}[self.name]

    def lesion_value(self, lesion: Lesion) -> float:
        """Value inside a lesion for this contrast."""
        return lesion.hu if self.name == "CT" else lesion.mr_value(self.name)


@dataclass(frozen=True)
class PixelFormat:
    """Stored-integer layout of a series and its rescale (value = slope * stored + intercept)."""

    bits_allocated: int
    bits_stored: int
    signed: bool
    slope: float = 1.0
    intercept: float = 0.0
    rescale: bool = True

    @property
    def dtype(self) -> np.dtype[np.integer]:
        """Numpy dtype of the stored values."""
        if self.bits_allocated == 8:
            return np.dtype(np.int8 if self.signed else np.uint8)
        return np.dtype(np.int16 if self.signed else np.uint16)

    @property
    def limits(self) -> tuple[int, int]:
        """Smallest and largest storable integer."""
        if self.signed:
            return -(2 ** (self.bits_stored - 1)), 2 ** (self.bits_stored - 1) - 1
        return 0, 2**self.bits_stored - 1

    def to_stored(self, values: F64) -> npt.NDArray[np.integer]:
        """Quantise image values to stored integers (clipped to the stored range)."""
        lo, hi = self.limits
        s = np.rint((values - self.intercept) / self.slope)
        return np.clip(s, lo, hi).astype(self.dtype)

    def to_values(self, stored: npt.NDArray[np.integer]) -> F64:
        """Apply the rescale (the inverse of :meth:`to_stored` up to rounding)."""
        return np.asarray(stored, dtype=np.float64) * self.slope + self.intercept


def render_points(
    anatomy: Anatomy,
    lesions: Sequence[Lesion],
    contrast: Contrast,
    points: F64,
    rng: KeyedRNG,
    bias: F64 | None = None,
) -> tuple[F64, npt.NDArray[np.uint8]]:
    """Image values and lesion labels at patient points (..., 3).

    CT noise is Gaussian; MR noise is Rician (magnitude of complex Gaussian noise) and MR
    signal is multiplied by a smooth coil ``bias`` field when one is given.
    """
    tissue = tissue_map(anatomy, points)
    vals = base_values(anatomy, tissue, points, contrast.table)
    labels = lesion_mask(lesions, points)
    for les in lesions:
        vals[labels == les.id] = contrast.lesion_value(les)
    shape = vals.shape
    if contrast.name == "CT":
        vals = vals + np.asarray(rng.normal(0.0, contrast.noise, shape))
    else:
        if bias is not None:
            vals = vals * bias
        n = np.asarray(rng.normal(0.0, contrast.noise, (2, *shape)))
        vals = np.sqrt((vals + n[0]) ** 2 + n[1] ** 2)
    return vals, labels


def mr_bias(anatomy: Anatomy, points: F64, coeffs: F64) -> F64:
    """Smooth multiplicative coil field, 1 +- ~15%, from 3 linear + 1 radial coefficient."""
    u, v, w = anatomy.normalise(points)
    return np.asarray(1.0 + coeffs[0] * u + coeffs[1] * v + coeffs[2] * (w - 0.5) - coeffs[3] * (u * u + v * v))


def render_slice(
    anatomy: Anatomy,
    lesions: Sequence[Lesion],
    contrast: Contrast,
    geom: SeriesGeometry,
    k: int,
    rng: KeyedRNG,
    bias_coeffs: F64 | None = None,
) -> tuple[F64, npt.NDArray[np.uint8]]:
    """Values and labels of slice ``k`` of a series."""
    pts = geom.slice_points(k)
    bias = None if bias_coeffs is None else mr_bias(anatomy, pts, bias_coeffs)
    return render_points(anatomy, lesions, contrast, pts, rng, bias)
