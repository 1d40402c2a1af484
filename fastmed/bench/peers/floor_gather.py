"""The floor: a bare trilinear (3D) / bilinear (2D) gather of the output patch, in numba.

What any fused augmentation must at least do: for every output voxel, map its index
through a random rotation/scale matrix and a random patch centre, read the 8 (3D) or 4 (2D)
neighbouring input voxels straight from the integer source array and write one float32.
No elastic field, no intensity program, no flips: a lower bound, reported as ``floor``.
Outside the image reads as 0. ``@njit(parallel=True)`` with ``prange`` over the slowest
axis; numba's pool is pinned to the row's thread count on each call.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.bench.peers.geometry import random_patch_map
from fastmed.bench.peers.spec import AugSpec
from fastmed.bench.peers.threads import pin_threads

_KERNELS: dict[int, Any] = {}


def _kernels() -> dict[int, Any]:
    """Compile (or load from numba's cache) the two gathers on first use."""
    if _KERNELS:
        return _KERNELS
    from numba import njit, prange

    @njit(parallel=True, cache=True, fastmath=True)
    def gather3d(src: Any, m: Any, t: Any, out: Any) -> None:  # pragma: no cover - numba
        d, h, w = src.shape
        od, oh, ow = out.shape
        for z in prange(od):
            for y in range(oh):
                b0 = m[0, 1] * y + m[0, 0] * z + t[0]
                b1 = m[1, 1] * y + m[1, 0] * z + t[1]
                b2 = m[2, 1] * y + m[2, 0] * z + t[2]
                for x in range(ow):
                    p0 = b0 + m[0, 2] * x
                    p1 = b1 + m[1, 2] * x
                    p2 = b2 + m[2, 2] * x
                    i0 = int(np.floor(p0))
                    i1 = int(np.floor(p1))
                    i2 = int(np.floor(p2))
                    f0 = p0 - i0
                    f1 = p1 - i1
                    f2 = p2 - i2
                    acc = 0.0
                    for a in range(2):
                        za = i0 + a
                        if za < 0 or za >= d:
                            continue
                        wa = f0 if a else 1.0 - f0
                        for b in range(2):
                            yb = i1 + b
                            if yb < 0 or yb >= h:
                                continue
                            wb = wa * (f1 if b else 1.0 - f1)
                            for c in range(2):
                                xc = i2 + c
                                if xc < 0 or xc >= w:
                                    continue
                                acc += wb * (f2 if c else 1.0 - f2) * src[za, yb, xc]
                    out[z, y, x] = acc

    @njit(parallel=True, cache=True, fastmath=True)
    def gather2d(src: Any, m: Any, t: Any, out: Any) -> None:  # pragma: no cover - numba
        h, w = src.shape
        oh, ow = out.shape
        for y in prange(oh):
            for x in range(ow):
                p0 = m[0, 0] * y + m[0, 1] * x + t[0]
                p1 = m[1, 0] * y + m[1, 1] * x + t[1]
                i0 = int(np.floor(p0))
                i1 = int(np.floor(p1))
                f0 = p0 - i0
                f1 = p1 - i1
                acc = 0.0
                for a in range(2):
                    ya = i0 + a
                    if ya < 0 or ya >= h:
                        continue
                    wa = f0 if a else 1.0 - f0
                    for b in range(2):
                        xb = i1 + b
                        if xb < 0 or xb >= w:
                            continue
                        acc += wa * (f1 if b else 1.0 - f1) * src[ya, xb]
                out[y, x] = acc

    _KERNELS[3] = gather3d
    _KERNELS[2] = gather2d
    return _KERNELS


def make(vol: npt.NDArray[Any], spec: AugSpec, threads: int, seed: int = 0) -> Callable[[], npt.NDArray[np.float32]]:
    """The floor for ``spec`` on channel-first ``vol`` (one channel), at ``threads`` threads.

    Raises
    ------
    ImportError
        numba is not installed.
    """
    kernel = _kernels()[spec.ndim]
    src = vol[0]
    counter = itertools.count()

    def call() -> npt.NDArray[np.float32]:
        pin_threads(threads)
        m, t = random_patch_map(spec, src.shape, seed, next(counter))
        out = np.empty((1, *spec.patch), np.float32)
        kernel(src, m, t, out[0])
        return out

    return call
