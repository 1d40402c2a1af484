"""Random patch geometry shared by the hand-written floors: rotation, scale and centre.

Drawn from fastmed's keyed Philox RNG with the call index, so call ``i`` of a floor is
the same patch whatever ran before it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fastmed.bench.peers.spec import AugSpec
from fastmed.rng import KeyedRNG


def rotation(angles: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Rotation matrix of ``len(angles) == 3`` (about axes 0, 1, 2) or 1 (in plane) angles."""
    if angles.size == 1:
        c, s = np.cos(angles[0]), np.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    out = np.eye(3)
    for axis, a in enumerate(angles):
        i, j = [k for k in range(3) if k != axis]
        r = np.eye(3)
        r[i, i] = r[j, j] = np.cos(a)
        r[i, j], r[j, i] = -np.sin(a), np.sin(a)
        out = out @ r
    return out


def random_patch_map(
    spec: AugSpec, shape: tuple[int, ...], seed: int, index: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Matrix ``m`` and offset ``t``: input coordinate = ``m @ out_voxel + t``.

    The patch centre is uniform over positions keeping an unrotated patch inside the image;
    rotation is uniform in ``±spec.degrees`` per axis and scale uniform in ``spec.scale``
    per axis, about the patch centre.
    """
    rng = KeyedRNG(seed, 0, index)
    nd = spec.ndim
    n_angles = 3 if nd == 3 else 1
    angles = np.asarray(rng.uniform(-spec.radians, spec.radians, n_angles), np.float64)
    scales = np.asarray(rng.uniform(spec.scale[0], spec.scale[1], nd), np.float64)
    half = np.asarray(spec.patch, np.float64) / 2.0
    lo = np.minimum(half, np.asarray(shape, np.float64) / 2.0)
    hi = np.maximum(np.asarray(shape, np.float64) - half, lo)
    centre = lo + (hi - lo) * np.asarray(rng.random(nd), np.float64)
    m = rotation(angles) @ np.diag(scales)
    t = centre - m @ (half - 0.5)
    return m, t
