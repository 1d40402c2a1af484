"""MONAI peers of the 2D X-ray pipeline (512² patch from a 2048² uint16 image).

Eager (``monai``): ``RandAffine(prob=1, spatial_size=patch, rotate_range=±10°,
scale_range=0.1, translate_range=half the free room)`` — crop, location, rotation and
scale in one resample, MONAI's recommended use of ``spatial_size`` — then ``RandFlip`` on
each axis, ``ScaleIntensityRange`` (window 0–4095 → [0, 1], clip), ``RandAdjustContrast``
(gamma 0.7–1.5) and ``RandGaussianNoise`` (std in [0, 0.05]). The resampler converts the
whole uint16 image to float32 on each call (the peer's real cost, kept).

Lazy (``monai-lazy``): ``Compose([RandAxisFlip, RandSpatialCrop, RandAffine], lazy=True)``
fused into one resample, then the same intensity ops. Deviation: ``RandAxisFlip(prob=0.75)``
(one random axis) instead of one ``RandFlip`` per axis, because in MONAI 1.6.1 a lazy 2D
``RandFlip`` that does not fire after another lazy op fails (``mat1 and mat2 shapes cannot
be multiplied (3x3 and 4x4)``); a lazy flip is only a matrix, so the work is the same.
``padding_mode="zeros"``, bilinear, MONAI's RandomState seeded once with ``set_random_state(seed)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.bench.peers.monai_r3d import flips, intensity_ops, wrap
from fastmed.bench.peers.spec import AugSpec


def make_eager(
    vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0
) -> Callable[[], npt.NDArray[np.float32]]:
    """MONAI eager 2D: ``RandAffine(spatial_size=patch, translate_range=...)``, flips, intensity."""
    import monai.transforms as mt

    room = [max(0.0, (s - p) / 2.0) for s, p in zip(vol.shape[1:], spec.patch, strict=True)]
    affine = mt.RandAffine(
        prob=1.0,
        rotate_range=(spec.radians,),
        scale_range=(spec.scale[1] - 1.0,) * 2,
        translate_range=tuple(room),
        spatial_size=spec.patch,
        mode="bilinear",
        padding_mode="zeros",
    )
    pipeline = mt.Compose([affine, *flips(spec), *intensity_ops(spec)])
    pipeline.set_random_state(seed=seed)
    return wrap(pipeline, vol, threads)


def make_lazy(
    vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0
) -> Callable[[], npt.NDArray[np.float32]]:
    """MONAI lazy 2D: crop + flips + ``RandAffine`` fused lazily, then intensity."""
    import monai.transforms as mt

    # MONAI 1.6.1: a lazy 2D RandFlip that does not fire after another pending op pushes a
    # 4x4 identity onto 3x3 matrices and apply_pending fails. RandAxisFlip does not; a lazy
    # flip is only a matrix, so the resample costs the same either way.
    spatial = [
        mt.RandAxisFlip(prob=0.75, lazy=True),
        mt.RandSpatialCrop(roi_size=spec.patch, random_size=False, lazy=True),
        mt.RandAffine(
            prob=1.0,
            rotate_range=(spec.radians,),
            scale_range=(spec.scale[1] - 1.0,) * 2,
            spatial_size=spec.patch,
            mode="bilinear",
            padding_mode="zeros",
            lazy=True,
        ),
    ]
    pipeline = mt.Compose([*spatial, *intensity_ops(spec)], lazy=True)
    pipeline.set_random_state(seed=seed)
    return wrap(pipeline, vol, threads)
