"""Synthetic CT-like volumes and X-ray-like images for the benchmarks.

Benchmarks need realistic value ranges (air at -1000 HU, lungs, soft tissue, bone) and a
full-size array, not patient data. Arrays are built once per shape and cached, so every
implementation of a suite reads the very same object in the same process.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt


def _ellipse(
    yy: npt.NDArray[np.float32], xx: npt.NDArray[np.float32], cy: float, cx: float, ry: float, rx: float
) -> npt.NDArray[np.bool_]:
    return np.asarray(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0)


def _ct_slice(h: int, w: int) -> npt.NDArray[np.float32]:
    """One axial slice: body, two lungs, spine and a texture, in HU."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sl = np.full((h, w), -1000.0, np.float32)
    sl[_ellipse(yy, xx, 0.5 * h, 0.5 * w, 0.38 * h, 0.46 * w)] = 40.0
    sl[_ellipse(yy, xx, 0.45 * h, 0.3 * w, 0.22 * h, 0.13 * w)] = -820.0
    sl[_ellipse(yy, xx, 0.45 * h, 0.7 * w, 0.22 * h, 0.13 * w)] = -820.0
    sl[_ellipse(yy, xx, 0.78 * h, 0.5 * w, 0.06 * h, 0.06 * w)] = 700.0
    # Deterministic texture so interpolation does real work on every voxel.
    sl += 25.0 * np.sin(xx * 0.37) * np.cos(yy * 0.23)
    return sl


@functools.lru_cache(maxsize=4)
def ct_volume(shape: tuple[int, int, int]) -> npt.NDArray[np.int16]:
    """A channel-first ``(1, D, H, W)`` int16 CT-like volume in HU (read-only, cached).

    Parameters
    ----------
    shape
        ``(D, H, W)``.
    """
    d, h, w = shape
    sl = _ct_slice(h, w)
    # The body changes slowly along z (a scaled copy would be costly at 320x512x512).
    z = np.arange(d, dtype=np.float32)[:, None, None]
    vol = np.empty((1, d, h, w), np.int16)
    vol[0] = np.clip(sl[None] + 30.0 * np.sin(z * 0.05), -1024, 3071)
    vol.setflags(write=False)
    return vol


@functools.lru_cache(maxsize=4)
def xray_image(shape: tuple[int, int]) -> npt.NDArray[np.uint16]:
    """A channel-first ``(1, H, W)`` uint16 12-bit X-ray-like image (read-only, cached)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.full((h, w), 300.0, np.float32)
    img[_ellipse(yy, xx, 0.5 * h, 0.5 * w, 0.45 * h, 0.42 * w)] = 1800.0
    img[_ellipse(yy, xx, 0.45 * h, 0.32 * w, 0.3 * h, 0.14 * w)] = 900.0
    img[_ellipse(yy, xx, 0.45 * h, 0.68 * w, 0.3 * h, 0.14 * w)] = 900.0
    img += 400.0 * (np.abs(np.sin(yy * 0.02)) > 0.95)  # ribs
    img += 60.0 * np.sin(xx * 0.31) * np.cos(yy * 0.17)
    out = np.clip(img, 0, 4095).astype(np.uint16)[None]
    out.setflags(write=False)
    return out
