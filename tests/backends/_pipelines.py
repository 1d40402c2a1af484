"""Pipelines and samples shared by the backend tests (one per op family, 2D and 3D)."""

from __future__ import annotations

from typing import Any

import numpy as np

import fastmed.transforms as T


def sample(ndim: int = 3, dtype: Any = np.int16, channels: int = 1, seed: int = 0) -> dict[str, Any]:
    """A random channel-first image with a label (values like CT)."""
    shape = (14, 17, 19) if ndim == 3 else (37, 41)
    rng = np.random.default_rng(seed)
    img = rng.integers(-1000, 1000, (channels, *shape)).astype(dtype)
    lab = rng.choice(np.array([0, 3, 7], np.uint8), size=(1, *shape))
    return {"image": img, "label": lab}


def crop(ndim: int) -> tuple[int, ...]:
    return (9, 11, 12) if ndim == 3 else (23, 29)


def families(ndim: int) -> dict[str, list[T.Op]]:
    """One short pipeline per op family; every family starts with a crop."""
    c = crop(ndim)
    return {
        "crop": [T.RandomCrop(c)],
        "center_crop_pad": [T.CenterCrop(tuple(n + 6 for n in c))],
        "flip": [T.RandomCrop(c), T.RandomFlip(p=1.0)],
        "rot90": [T.RandomCrop(c), T.RandomRot90(p=1.0)],
        "affine": [T.RandomCrop(c), T.RandomAffine(degrees=20, scale=(0.8, 1.2), translate=2.0, shear=0.05)],
        "elastic": [T.RandomCrop(c), T.RandomElastic(magnitude=(1.0, 3.0), grid_spacing=5.0)],
        "resample": [T.Resample((1.3,) * ndim), T.RandomCrop(c)],
        "window": [T.RandomCrop(c), T.Window(-500, 500)],
        "normalize": [T.RandomCrop(c), T.Normalize()],
        "scale": [T.RandomCrop(c), T.ScaleIntensity()],
        "gamma": [T.RandomCrop(c), T.Window(-500, 500), T.RandomGamma(gamma=(0.6, 1.6))],
        "contrast": [T.RandomCrop(c), T.Window(-500, 500), T.RandomContrast()],
        "brightness": [T.RandomCrop(c), T.Window(-500, 500), T.RandomBrightness(delta=0.2)],
        "noise": [T.RandomCrop(c), T.Window(-500, 500), T.RandomGaussianNoise(std=(0.1, 0.2))],
        "bias_field": [T.RandomCrop(c), T.Window(-500, 500), T.RandomBiasField(coefficients=0.3)],
        "blur": [T.RandomCrop(c), T.Window(-500, 500), T.RandomGaussianBlur(sigma=(0.6, 1.2)), T.RandomBrightness()],
        "low_res": [T.RandomCrop(c), T.Window(-500, 500), T.RandomLowRes(zoom=(0.5, 0.7))],
        "patch_normalize": [T.RandomCrop(c), T.Normalize(stats="patch")],
    }
