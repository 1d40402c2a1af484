"""Small synthetic images for the training tests: smooth blobs on a gradient (deterministic)."""

from __future__ import annotations

import numpy as np


def blob_images(n: int, size: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """``(n, 1, *size)`` float32 images: one or two Gaussian blobs over a linear ramp, values ~[0, 1]."""
    rng = np.random.default_rng(seed)
    axes = np.meshgrid(*[np.linspace(-1, 1, s) for s in size], indexing="ij")
    out = np.empty((n, 1, *size), np.float32)
    for i in range(n):
        img = 0.2 * (axes[0] + 1)
        for _ in range(int(rng.integers(1, 3))):
            c = rng.uniform(-0.5, 0.5, len(size))
            r = rng.uniform(0.2, 0.4)
            d2 = sum((a - ci) ** 2 for a, ci in zip(axes, c, strict=True))
            img = img + np.exp(-d2 / (2 * r * r))
        out[i, 0] = img
    return out
