"""Named pipelines: ``r3d`` (the reference 3D benchmark), ``xray2d`` and ``ct-default``.

A preset is a function of the patch size; :func:`preset` builds the :class:`Compose`
and can fit the patch to a volume (``fit_shape``), so a small volume is not shown or
trained mostly as padding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastmed.errors import TransformError
from fastmed.transforms.affine import RandomAffine
from fastmed.transforms.base import Op
from fastmed.transforms.compose import Compose
from fastmed.transforms.crop import RandomCrop
from fastmed.transforms.elastic import RandomElastic
from fastmed.transforms.flip import RandomFlip
from fastmed.transforms.gamma import RandomGamma
from fastmed.transforms.noise import RandomGaussianNoise
from fastmed.transforms.resample import Resample
from fastmed.transforms.scale import ScaleIntensity
from fastmed.transforms.window import Window

Patch = tuple[int, ...]


def _r3d(patch: Patch) -> list[Op]:
    # The numbers of fastmed.bench.peers.spec.R3D (crop, flip, affine, elastic, window, gamma, noise).
    return [
        RandomCrop(patch),
        RandomFlip(),
        RandomAffine(degrees=15.0, scale=(0.85, 1.15)),
        RandomElastic(),
        Window(-1000.0, 400.0),
        RandomGamma(),
        RandomGaussianNoise(),
    ]


def _xray2d(patch: Patch) -> list[Op]:
    # Radiographs come as 8-, 12- or 16-bit: scale by the sample's own range, not a fixed window.
    return [
        RandomCrop(patch),
        RandomFlip(axes=(1,)),
        RandomAffine(degrees=10.0, scale=(0.9, 1.1)),
        ScaleIntensity(),
        RandomGamma(gamma=(0.8, 1.25)),
        RandomGaussianNoise(std=(0.0, 0.03)),
    ]


def _ct_default(patch: Patch) -> list[Op]:
    # Isotropic 1.5 mm first, so rotations and the crop act on a physically cubic patch.
    return [
        Resample((1.5, 1.5, 1.5)),
        RandomCrop(patch),
        RandomFlip(axes=(2,)),
        RandomAffine(degrees=10.0, scale=(0.9, 1.1)),
        Window(-1000.0, 400.0),
        RandomGamma(gamma=(0.8, 1.25), p=0.5),
        RandomGaussianNoise(std=(0.0, 0.02)),
    ]


PRESETS: dict[str, tuple[Callable[[Patch], list[Op]], Patch]] = {
    "r3d": (_r3d, (128, 128, 128)),
    "xray2d": (_xray2d, (512, 512)),
    "ct-default": (_ct_default, (96, 96, 96)),
}
"""Preset name -> (builder of the op list from a patch size, default patch size)."""


def preset_names() -> list[str]:
    """Names accepted by :func:`preset`."""
    return sorted(PRESETS)


def preset(
    name: str,
    *,
    patch: Sequence[int] | None = None,
    fit_shape: Sequence[int] | None = None,
    fit_spacing: Sequence[float] | None = None,
    **compose_kw: Any,
) -> Compose:
    """Build a named pipeline.

    Parameters
    ----------
    name
        One of :func:`preset_names`.
    patch
        Patch size (default: the preset's).
    fit_shape
        Spatial shape of the volume: each patch axis is cut to it (after ``patch``).
    fit_spacing
        Spacing of that volume in mm: for presets that resample first (``ct-default``)
        the patch is cut to the resampled shape instead.
    compose_kw
        Passed to :class:`Compose` (``dtype``, ``device``, ``threads`` ...).
    """
    if name not in PRESETS:
        raise TransformError(f"unknown preset {name!r} (known: {preset_names()})")
    build, default = PRESETS[name]
    size = tuple(int(n) for n in (patch if patch is not None else default))
    if len(size) != len(default):
        raise TransformError(f"preset {name!r} is {len(default)}-D, got a patch of {len(size)} axes")
    if fit_shape is not None:
        if len(fit_shape) != len(size):
            raise TransformError(f"preset {name!r} is {len(size)}-D, the volume is {len(fit_shape)}-D")
        shape = [int(n) for n in fit_shape]
        first = build(size)[0]
        if isinstance(first, Resample) and fit_spacing is not None:
            # Resample's own rule: round(n * old / new).
            shape = [
                max(1, int(round(n * float(s) / float(t))))
                for n, s, t in zip(shape, fit_spacing, first.spacing, strict=True)
            ]
        size = tuple(max(1, min(p, n)) for p, n in zip(size, shape, strict=True))
    return Compose(build(size), **compose_kw)
