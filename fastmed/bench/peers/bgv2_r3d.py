"""batchgeneratorsv2 peers of the R3D pipeline (nnU-Net's augmentation library).

``bgv2``: ``SpatialTransform(patch_size, random_crop=True, p_elastic_deform=1,
p_rotation=1, rotation=±15° in radians per axis, p_scaling=1, scaling 0.85–1.15,
padding zeros)`` builds one grid at patch size (elastic offsets blurred in Fourier space,
then the affine) and does one ``grid_sample``; then ``MirrorTransform`` on all three axes,
a window (clip to (-1000, 400), scale to [0, 1]: bgv2 has no window transform, so it is a
three-op ``ImageOnlyTransform``), ``GammaTransform`` (0.7–1.5, no retain-stats, no
inversion) and ``GaussianNoiseTransform`` (sigma in [0, 0.05]). ``grid_sample`` needs a
float input: on an int16 volume the whole volume is converted to float32 on every call —
the peer's real cost here, kept.

``bgv2-nnunet``: how nnU-Net feeds it. Its data loader first cuts, from the int16 array, a
region large enough for any rotation/scale/deformation of the patch (nnU-Net's
"initial patch size": the bounding box of the rotated, scaled patch plus the elastic
margin) around a random centre, converts only that region to float and runs the same
``SpatialTransform`` with ``random_crop=False``. Same work on the patch, no full-volume copy.

Elastic: sigma drawn in [sigma/2, sigma] voxels (given to bgv2 as a fraction of the patch),
largest displacement in [max/2, max] voxels. bgv2 draws from numpy's and torch's global
RNGs, which the benchmark does not seed (house rule); the nnU-Net row's region centre comes
from fastmed's keyed RNG with the call index.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.bench.peers._torchutil import shared_tensor, to_numpy
from fastmed.bench.peers.geometry import rotation
from fastmed.bench.peers.spec import AugSpec
from fastmed.bench.peers.threads import pin_threads
from fastmed.rng import KeyedRNG


def _pipeline(spec: AugSpec, random_crop: bool) -> Any:
    import torch
    from batchgeneratorsv2.transforms.base.basic_transform import ImageOnlyTransform
    from batchgeneratorsv2.transforms.intensity.gamma import GammaTransform
    from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
    from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
    from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
    from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms

    lo, hi = spec.window

    class WindowTransform(ImageOnlyTransform):
        """Clip to the window and scale it to [0, 1], in place on the float patch."""

        def _apply_to_image(self, img: torch.Tensor, **params: Any) -> torch.Tensor:
            return img.clamp_(lo, hi).sub_(lo).div_(hi - lo)

    p = spec.patch
    return ComposeTransforms(
        [
            SpatialTransform(
                patch_size=p,
                patch_center_dist_from_border=[s // 2 for s in p],
                random_crop=random_crop,
                p_elastic_deform=1.0,
                elastic_deform_scale=(spec.elastic_sigma / 2.0 / min(p), spec.elastic_sigma / min(p)),
                elastic_deform_magnitude=(spec.elastic_max_mm / 2.0, spec.elastic_max_mm),
                p_rotation=1.0,
                rotation=(-spec.radians, spec.radians),
                p_rot_per_axis=1.0,
                p_scaling=1.0,
                scaling=spec.scale,
                mode_image="bilinear",
                padding_mode_image="zeros",
            ),
            MirrorTransform(allowed_axes=tuple(range(spec.ndim))),
            WindowTransform(),
            GammaTransform(
                gamma=spec.gamma, p_invert_image=0.0, synchronize_channels=True, p_per_channel=1.0, p_retain_stats=0.0
            ),
            GaussianNoiseTransform(noise_variance=(0.0, spec.noise_std), p_per_channel=1.0, synchronize_channels=True),
        ]
    )


def make(vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0) -> Callable[[], npt.NDArray[np.float32]]:
    """bgv2 on the whole volume: ``SpatialTransform(random_crop=True)`` after a float conversion."""
    pipeline = _pipeline(spec, random_crop=True)
    img = shared_tensor(vol)

    def call() -> npt.NDArray[np.float32]:
        pin_threads(threads)
        return to_numpy(pipeline(image=img.float())["image"])

    return call


def initial_region(spec: AugSpec) -> tuple[int, ...]:
    """nnU-Net's enlarged region: bounding box of the patch under any allowed rotation and scale.

    Checks every combination of extreme angles (the box is largest at an extreme) at the
    largest scale, then adds the elastic displacement (if any) and one voxel of interpolation
    margin on each side.
    """
    half = np.asarray(spec.patch, np.float64) / 2.0
    corners = np.array(list(itertools.product(*[(-h, h) for h in half])))
    n_angles = 3 if spec.ndim == 3 else 1
    extent = np.zeros(spec.ndim)
    for signs in itertools.product((-1.0, 1.0), repeat=n_angles):
        m = rotation(np.asarray(signs) * spec.radians) * spec.scale[1]
        extent = np.maximum(extent, np.abs(corners @ m.T).max(axis=0))
    margin = spec.elastic_max_mm if spec.elastic else 0.0
    return tuple(int(math.ceil(2 * (e + margin + 1))) for e in extent)


def make_nnunet(
    vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0
) -> Callable[[], npt.NDArray[np.float32]]:
    """bgv2 fed like nnU-Net: int16 region crop around a random centre, then the same pipeline."""
    import torch

    pipeline = _pipeline(spec, random_crop=False)
    region = initial_region(spec)
    shape = vol.shape[1:]
    counter = itertools.count()

    def call() -> npt.NDArray[np.float32]:
        pin_threads(threads)
        rng = KeyedRNG(seed, 0, next(counter))
        half = np.asarray(spec.patch) // 2
        hi = np.maximum(np.asarray(shape) - half, half + 1)
        centre = np.array([rng.integers(int(a), int(b)) for a, b in zip(half, hi, strict=True)])
        start = centre - np.asarray(region) // 2
        # Zero-padded cut: the region may reach past the volume near its borders.
        buf = torch.zeros((vol.shape[0], *region), dtype=torch.float32)
        src_lo = np.maximum(start, 0)
        src_hi = np.minimum(start + np.asarray(region), shape)
        dst_lo = src_lo - start
        dst_hi = dst_lo + (src_hi - src_lo)
        if np.all(src_hi > src_lo):
            src = vol[(slice(None), *[slice(a, b) for a, b in zip(src_lo, src_hi, strict=True)])]
            buf[(slice(None), *[slice(a, b) for a, b in zip(dst_lo, dst_hi, strict=True)])] = shared_tensor(
                np.ascontiguousarray(src)
            )
        return to_numpy(pipeline(image=buf)["image"])

    return call
