"""TorchIO peers of the R3D pipeline, in TorchIO's documented patch-based practice.

TorchIO has no RandomCrop: the patch is drawn first with ``tio.UniformSampler`` (it crops
the int16 tensor, no float copy of the volume), then ``RandomFlip`` (each axis p=0.5),
affine + elastic, ``Clamp`` + ``RescaleIntensity(in_min_max=window → 0..1)``,
``RandomGamma`` (log-gamma range of 0.7–1.5) and ``RandomNoise`` (std in [0, 0.05]).
Affine + elastic is ``RandomAffineElasticDeformation`` in row ``torchio`` (TorchIO's fused
transform, one SimpleITK resample) and ``RandomAffine`` then ``RandomElasticDeformation``
in row ``torchio-2pass`` (two resamples, as most TorchIO pipelines are written); both with
degrees ±15, scales 0.85–1.15, 7 control points and ``max_displacement`` ≈
``spec.elastic_max_mm`` mm, capped below half the control-grid spacing as TorchIO requires.

Deviation, inherent to patch-first: rotating a patch already cut out pulls padding
(TorchIO's default ``'minimum'``) into the corners instead of the neighbouring anatomy.
The work per call is the same size (one 128³ float32 resample). TorchIO draws from
torch's global RNG, which the benchmark does not seed (no global seeding in package code),
so its calls differ from run to run; every call is still a fresh random patch.
SimpleITK does the resampling: its thread count is pinned with torch's on each call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.bench.peers._torchutil import shared_tensor, to_numpy
from fastmed.bench.peers.spec import AugSpec
from fastmed.bench.peers.threads import pin_threads

CONTROL_POINTS = 7


def _spatial(spec: AugSpec, fused: bool) -> list[Any]:
    """Affine + elastic: TorchIO's fused single-resample transform, or the two separately."""
    import torchio as tio

    # TorchIO's control grid spans the patch with (points - 2) intervals; folding is refused
    # above half of that spacing.
    half_spacing = min(spec.patch) / (CONTROL_POINTS - 2) / 2.0
    affine_kwargs: dict[str, Any] = {"scales": spec.scale, "degrees": spec.degrees, "image_interpolation": "linear"}
    elastic_kwargs: dict[str, Any] = {
        "num_control_points": CONTROL_POINTS,
        "max_displacement": min(spec.elastic_max_mm, 0.95 * half_spacing),
        "image_interpolation": "linear",
    }
    if fused:
        return [tio.RandomAffineElasticDeformation(affine_kwargs=affine_kwargs, elastic_kwargs=elastic_kwargs)]
    return [tio.RandomAffine(**affine_kwargs), tio.RandomElasticDeformation(**elastic_kwargs)]


def r3d_transform(spec: AugSpec, fused: bool = True) -> Any:
    """TorchIO's R3D transform after the patch: flip, affine+elastic, window, gamma, noise."""
    import torchio as tio

    lo, hi = spec.window
    return tio.Compose(
        [
            tio.RandomFlip(axes=tuple(range(spec.ndim)), flip_probability=0.5),
            *_spatial(spec, fused),
            tio.Clamp(out_min=lo, out_max=hi),
            tio.RescaleIntensity(out_min_max=(0.0, 1.0), in_min_max=(lo, hi)),
            tio.RandomGamma(log_gamma=(math.log(spec.gamma[0]), math.log(spec.gamma[1]))),
            tio.RandomNoise(std=(0.0, spec.noise_std)),
        ]
    )


def make(
    vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0, fused: bool = True
) -> Callable[[], npt.NDArray[np.float32]]:
    """TorchIO: ``UniformSampler`` patch, then flip, affine+elastic and intensity.

    ``fused`` picks ``RandomAffineElasticDeformation`` (one resample, the default) over
    ``RandomAffine`` followed by ``RandomElasticDeformation`` (two resamples).
    ``seed`` is unused: TorchIO samples from torch's global generator.
    """
    import torchio as tio

    subject = tio.Subject(image=tio.ScalarImage(tensor=shared_tensor(vol), affine=np.eye(4)))
    d, h, w = spec.patch
    sampler = tio.UniformSampler(patch_size=(d, h, w))
    transform = r3d_transform(spec, fused)

    def call() -> npt.NDArray[np.float32]:
        pin_threads(threads)
        patch = next(iter(sampler(subject, num_patches=1)))
        out: Any = transform(patch)
        return to_numpy(out["image"].data)

    return call


def make_separate(
    vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0
) -> Callable[[], npt.NDArray[np.float32]]:
    """TorchIO with ``RandomAffine`` then ``RandomElasticDeformation`` (two resamples)."""
    return make(vol, spec, threads, seed, fused=False)
