"""fastmed's own row: the fused augmentation engine (``fastmed.transforms``) on the same input.

One ``Compose`` of crop, flip, affine, (elastic,) window, gamma and noise, compiled by
fastmed into a single resampling pass over the output patch that reads the integer source
directly. Call ``i`` uses ``index=i`` with a fixed seed, so every call is a fresh random
patch and the whole run replays exactly. Elastic, gamma and noise use fastmed's defaults
(the peers' ranges are set to comparable values; their cost does not depend on them).

The engine is developed on another branch: where ``fastmed.transforms`` cannot be imported,
``make`` raises ``ImportError`` and the suites record fastmed as missing with that reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.bench.peers._torchutil import to_numpy
from fastmed.bench.peers.spec import AugSpec
from fastmed.bench.peers.threads import pin_threads

UNAVAILABLE = "fastmed.transforms not available on this branch"


def build(spec: AugSpec) -> Any:
    """The ``fastmed.transforms.Compose`` for ``spec``.

    Raises
    ------
    ImportError
        ``fastmed.transforms`` (or one of its ops) does not exist in this checkout.
    """
    try:
        import fastmed._native  # noqa: F401  (so pin_threads reaches fastmed's pool)
        from fastmed.transforms import (  # type: ignore[attr-defined,import-not-found,unused-ignore]
            Compose,
            RandomAffine,
            RandomCrop,
            RandomElastic,
            RandomFlip,
            RandomGamma,
            RandomGaussianNoise,
            Window,
        )
    except ImportError as exc:
        raise ImportError(f"{UNAVAILABLE} ({exc})") from exc
    ops: list[Any] = [
        RandomCrop(tuple(spec.patch)),
        RandomFlip(),
        RandomAffine(degrees=spec.degrees, scale=spec.scale),
    ]
    if spec.elastic:
        ops.append(RandomElastic())
    ops += [Window(*spec.window), RandomGamma(), RandomGaussianNoise()]
    return Compose(ops)


def make(vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0) -> Callable[[], npt.NDArray[np.float32]]:
    """fastmed: one fused pass per call on channel-first ``vol``; returns the float32 patch."""
    aug = build(spec)
    counter = itertools.count()

    def call() -> npt.NDArray[np.float32]:
        pin_threads(threads)
        out = aug({"image": vol}, seed=seed, index=next(counter))
        return to_numpy(out["image"])

    return call
