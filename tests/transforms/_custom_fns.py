"""Module-level custom ops for the tests (importable, so they serialize by path)."""

from __future__ import annotations

import math

import numpy as np

import fastmed.transforms as T


@T.voxel_op(params={"k": (0.5, 2.0), "shift": (-0.1, 0.1)})
def signed_power(v, k, shift):
    """A non-linear per-voxel map with a branch and libm calls."""
    if v == 0.0:
        return shift
    return math.copysign(abs(v) ** k, v) + shift


@T.voxel_op(params={"n": (1, 3)})
def quantize(v, n):
    """Integer parameter: floor to multiples of 1/(n+1)."""
    return math.floor(v * (n + 1)) / (n + 1)


@T.patch_op(params={"amount": (0.1, 0.5)})
def speckle(patch, amount, rng):
    """Multiplicative noise drawn from the op's own keyed rng (random arrays that replay)."""
    noise = np.asarray(rng.normal(size=patch.shape), dtype=np.float32)
    patch *= 1.0 + np.float32(amount) * noise


@T.patch_op(params={"axis": (0, 1)})
def reverse_rows(patch, axis):
    """Returns a new array (not in place): the patch reversed along a spatial axis."""
    return np.flip(patch, axis=patch.ndim - 1 - axis).copy()
