"""Augmentation montage: mid slices of original patches next to R3D-augmented patches (one row per volume).

Drawn with :mod:`fastmed.inspect.montage` (Agg canvas, captions). The original patch is the centred crop
of the augmented patch size, mapped through the pipeline's intensity window so both sides share one
display range.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.inspect.montage import Row, View, display_range, render
from fastmed.transforms.presets import preset
from fastmed.transforms.window import Window


def centre_crop(volume: npt.NDArray[Any], patch: Sequence[int]) -> npt.NDArray[Any]:
    """The centred ``patch``-sized block of ``volume`` (each axis cut to the volume)."""
    sl = []
    for n, p in zip(volume.shape, patch, strict=True):
        p = min(int(p), n)
        lo = (n - p) // 2
        sl.append(slice(lo, lo + p))
    return volume[tuple(sl)]


def augmentation_montage(
    volumes: Sequence[tuple[str, npt.NDArray[Any], Sequence[float]]],
    path: str | PathLike[str],
    *,
    patch: Sequence[int] = (16, 48, 48),
    n: int = 3,
    seed: int = 0,
    pipeline: str = "r3d",
    panel_px: int = 160,
) -> list[list[npt.NDArray[np.float32]]]:
    """Write the montage PNG: per volume, the original patch's mid axial slice and ``n`` augmented ones.

    Parameters
    ----------
    volumes
        ``(name, (D, H, W) array, spacing)`` per row; the name is shown (use keyed ids, never patient data).
    path
        PNG to write.
    patch
        Patch size of the preset (cut to each volume).
    n
        Augmented samples per volume (sample indices ``0 .. n-1`` of ``seed``).
    seed
        Augmentation seed.
    pipeline
        Preset name (:func:`fastmed.transforms.presets.preset`).
    panel_px
        Panel size in pixels.

    Returns
    -------
    list of list of ndarray
        Per row, the mid slices drawn (original first), for checking what was shown.
    """
    rows: list[Row] = []
    shown: list[list[npt.NDArray[np.float32]]] = []
    for name, vol, spacing in volumes:
        aug = preset(pipeline, patch=patch, fit_shape=vol.shape, threads=1)
        size = tuple(int(s) for s in aug.ops[0].size) if hasattr(aug.ops[0], "size") else tuple(vol.shape)
        orig = centre_crop(np.asarray(vol), size).astype(np.float32)
        window = next((op for op in aug.ops if isinstance(op, Window)), None)
        if window is not None:
            a, b = window.out_range
            orig = a + (np.clip(orig, window.low, window.high) - window.low) * (b - a) / (window.high - window.low)
        sample = {"image": np.asarray(vol)[None], "spacing": tuple(float(s) for s in spacing)}
        augmented = [np.asarray(aug(sample, seed=seed, index=i)["image"], dtype=np.float32)[0] for i in range(n)]
        slices = [orig[orig.shape[0] // 2]] + [a[a.shape[0] // 2] for a in augmented]
        lo, hi = (float(window.out_range[0]), float(window.out_range[1])) if window else display_range(orig)
        aspect = float(spacing[1]) / float(spacing[2])
        views = [View(f"original z={orig.shape[0] // 2}", slices[0], aspect)]
        views += [View(f"{pipeline} #{i}", s, aspect) for i, s in enumerate(slices[1:])]
        caption = (name, f"volume {'x'.join(map(str, vol.shape))}", f"patch {'x'.join(map(str, size))}", f"seed {seed}")
        rows.append(Row(tuple(views), lo, hi, caption))
        shown.append(slices)
    render(rows, path, panel_px)
    return shown
