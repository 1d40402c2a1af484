"""MONAI peers of the R3D pipeline, eager and lazy, each in MONAI's documented best practice.

Eager (``monai``): ``Rand3DElastic`` with ``spatial_size`` = patch does crop, rotation
(``rotate_range`` ±15° per axis), scale (``scale_range`` 0.15 → 0.85–1.15), a random
patch location (``translate_range`` = half the free room per axis, voxels) and the elastic
field in one grid resample, as MONAI's docs recommend for "crop + deform". Then three
``RandFlip(prob=0.5)`` (one per axis, on the patch), ``ScaleIntensityRange(-1000, 400 →
0, 1, clip)``, ``RandAdjustContrast`` (gamma 0.7–1.5) and ``RandGaussianNoise`` (std drawn
in [0, 0.05]). Its resampler converts the whole int16 volume to float32 on every call: that
is the peer's real cost and is kept.

Lazy (``monai-lazy``): ``Compose([...], lazy=True)`` with ``RandSpatialCrop`` +
``RandFlip`` × 3 + ``RandAffine(spatial_size=patch)`` pending and fused into one resample
(MONAI's lazy resampling), then ``Rand3DElastic`` on the 128³ patch (elastic is not a
lazy transform in MONAI) and the same intensity ops.

Both use ``padding_mode="zeros"`` like the floor, bilinear (trilinear) interpolation and
MONAI's own RandomState seeded once with ``set_random_state(seed)``: call ``i`` draws the
``i``-th set of parameters. The elastic sigma is drawn in ``[sigma/2, sigma]`` with a
magnitude scaled to about ``spec.elastic_max_mm`` voxels of displacement (MONAI's offsets
are smoothed uniform noise, so a raw magnitude is not in voxels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.bench.peers._torchutil import monai_elastic_magnitude, shared_tensor, to_numpy
from fastmed.bench.peers.spec import AugSpec
from fastmed.bench.peers.threads import pin_threads


def intensity_ops(spec: AugSpec) -> list[Any]:
    """Window → [0, 1], gamma, noise: MONAI's array transforms for ``spec``."""
    import monai.transforms as mt

    lo, hi = spec.window
    return [
        mt.ScaleIntensityRange(a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=True),
        mt.RandAdjustContrast(prob=1.0, gamma=spec.gamma),
        mt.RandGaussianNoise(prob=1.0, mean=0.0, std=spec.noise_std, sample_std=True),
    ]


def flips(spec: AugSpec, lazy: bool = False) -> list[Any]:
    """One ``RandFlip(prob=0.5)`` per spatial axis (each axis flips independently)."""
    import monai.transforms as mt

    return [mt.RandFlip(prob=0.5, spatial_axis=a, lazy=lazy) for a in range(spec.ndim)]


def elastic_ranges(spec: AugSpec) -> tuple[tuple[float, float], tuple[float, float]]:
    """``sigma_range`` and ``magnitude_range`` of MONAI's elastic for ``spec``."""
    s_lo, s_hi = spec.elastic_sigma / 2.0, spec.elastic_sigma
    mag = monai_elastic_magnitude(spec.elastic_max_mm, spec.elastic_sigma * 0.75, spec.ndim)
    return (s_lo, s_hi), (mag / 2.0, mag)


def patch3(spec: AugSpec) -> tuple[int, int, int]:
    """The 3D patch size as MONAI's annotations want it."""
    d, h, w = spec.patch
    return d, h, w


def wrap(pipeline: Any, vol: npt.NDArray[Any], threads: int) -> Callable[[], npt.NDArray[np.float32]]:
    """A call running ``pipeline`` on a shared torch view of ``vol`` at ``threads`` threads."""
    img = shared_tensor(vol)

    def call() -> npt.NDArray[np.float32]:
        pin_threads(threads)
        return to_numpy(pipeline(img))

    return call


def make_eager(
    vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0
) -> Callable[[], npt.NDArray[np.float32]]:
    """MONAI eager: ``Rand3DElastic(spatial_size=patch, ...)`` then flips and intensity."""
    import monai.transforms as mt

    room = [max(0.0, (s - p) / 2.0) for s, p in zip(vol.shape[1:], spec.patch, strict=True)]
    sigma_range, magnitude_range = elastic_ranges(spec)
    elastic = mt.Rand3DElastic(
        sigma_range,
        magnitude_range,
        prob=1.0,
        rotate_range=(spec.radians,) * 3,
        scale_range=(spec.scale[1] - 1.0,) * 3,
        translate_range=tuple(room),
        spatial_size=patch3(spec),
        mode="bilinear",
        padding_mode="zeros",
    )
    pipeline = mt.Compose([elastic, *flips(spec), *intensity_ops(spec)])
    pipeline.set_random_state(seed=seed)
    return wrap(pipeline, vol, threads)


def make_lazy(
    vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0
) -> Callable[[], npt.NDArray[np.float32]]:
    """MONAI lazy: crop + flips + ``RandAffine`` fused lazily, elastic on the patch, intensity."""
    import monai.transforms as mt

    spatial = [
        mt.RandSpatialCrop(roi_size=spec.patch, random_size=False, lazy=True),
        *flips(spec, lazy=True),
        mt.RandAffine(
            prob=1.0,
            rotate_range=(spec.radians,) * 3,
            scale_range=(spec.scale[1] - 1.0,) * 3,
            spatial_size=spec.patch,
            mode="bilinear",
            padding_mode="zeros",
            lazy=True,
        ),
    ]
    sigma_range, magnitude_range = elastic_ranges(spec)
    elastic = mt.Rand3DElastic(sigma_range, magnitude_range, prob=1.0, mode="bilinear", padding_mode="zeros")
    pipeline = mt.Compose([*spatial, elastic, *intensity_ops(spec)], lazy=True)
    pipeline.set_random_state(seed=seed)
    return wrap(pipeline, vol, threads)
