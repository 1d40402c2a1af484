"""torchvision.transforms.v2 peer of the 2D X-ray pipeline.

torchvision's practice for a crop with rotation: cut a region large enough for the rotated,
scaled patch (``v2.RandomCrop``), convert it to float32, ``v2.RandomAffine`` (±10°, scale
0.9–1.1, bilinear, fill 0), ``v2.CenterCrop(patch)``, ``v2.RandomHorizontalFlip`` and
``v2.RandomVerticalFlip``, then the window (clamp, scale to [0, 1]), gamma
(``v2.functional.adjust_gamma`` with a gamma drawn in 0.7–1.5) and ``v2.GaussianNoise``
(fixed sigma: torchvision has no random-sigma noise; ``spec.noise_std / 2``, the mean of
the other peers' draws). torchvision draws from torch's global RNG (not seeded here).

PyPI's torchvision wheels are built against a matching torch: beside this venv's CPU
torch 2.13 the import fails (``operator torchvision::nms does not exist``) or the package is
absent; ``make`` then raises ``ImportError`` with the reason, recorded in ``Case.missing``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.bench.peers._torchutil import shared_tensor, to_numpy
from fastmed.bench.peers.bgv2_r3d import initial_region
from fastmed.bench.peers.spec import AugSpec
from fastmed.bench.peers.threads import pin_threads
from fastmed.rng import KeyedRNG


def _import_v2() -> Any:
    try:
        from torchvision.transforms import v2
    except Exception as exc:  # a broken wheel raises RuntimeError, not only ImportError
        raise ImportError(f"torchvision does not import here: {type(exc).__name__}: {exc}") from exc
    return v2


def make(vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0) -> Callable[[], npt.NDArray[np.float32]]:
    """Run torchvision v2: enlarged random crop, float, affine, centre crop, flips, intensity."""
    import torch

    v2 = _import_v2()
    region = [min(r, s) for r, s in zip(initial_region(spec), vol.shape[1:], strict=True)]
    lo, hi = spec.window
    spatial = v2.Compose(
        [
            v2.RandomCrop(region, pad_if_needed=True),
            v2.ToDtype(torch.float32),
            v2.RandomAffine(
                degrees=spec.degrees, scale=spec.scale, interpolation=v2.InterpolationMode.BILINEAR, fill=0
            ),
            v2.CenterCrop(spec.patch),
            v2.RandomHorizontalFlip(0.5),
            v2.RandomVerticalFlip(0.5),
        ]
    )
    noise = v2.GaussianNoise(mean=0.0, sigma=spec.noise_std / 2.0, clip=False)
    img = shared_tensor(vol.astype(np.int32))  # torch has limited uint16 support; int32 is exact
    counter = itertools.count()

    def call() -> npt.NDArray[np.float32]:
        pin_threads(threads)
        x = spatial(img)
        x = x.clamp_(lo, hi).sub_(lo).div_(hi - lo)
        gamma = float(KeyedRNG(seed, 0, next(counter)).uniform(*spec.gamma))
        x = v2.functional.adjust_gamma(x, gamma)
        return to_numpy(noise(x))

    return call
