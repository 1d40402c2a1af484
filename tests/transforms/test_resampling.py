"""The fused gather against scipy.ndimage (affine_transform / map_coordinates)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from fastmed.backends.cpu import resample

SCIPY_MODE = {"constant": "grid-constant", "edge": "nearest", "reflect": "mirror"}
DTYPES = [np.int16, np.uint16, np.uint8, np.float32, np.int32]


def _volume(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    hi = 200 if dtype == np.uint8 else 1000
    lo = 0 if dtype in (np.uint8, np.uint16) else -hi
    return rng.uniform(lo, hi, shape).astype(dtype)


def _matrix(rng: np.random.Generator, in_shape: tuple[int, ...]) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    lin = q @ np.diag(rng.uniform(0.6, 1.6, 3))
    m = np.eye(4)
    m[:3, :3] = lin
    m[:3, 3] = rng.uniform(-3, 3, 3) + (np.asarray(in_shape) - 1) / 2 - lin @ ((np.asarray(in_shape) - 1) / 2)
    return m


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    shape=st.tuples(st.integers(2, 9), st.integers(2, 9), st.integers(2, 9)),
    out_shape=st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 10)),
    mode=st.sampled_from(sorted(SCIPY_MODE)),
    dtype=st.sampled_from(DTYPES),
    cval=st.floats(-50, 50),
)
def test_trilinear_matches_scipy(seed, shape, out_shape, mode, dtype, cval):
    rng = np.random.default_rng(seed)
    vol = _volume(rng, shape, dtype)
    m = _matrix(rng, shape)
    got = resample(vol[None], m, out_shape, "linear", mode, cval, threads=1)[0]
    want = ndimage.affine_transform(
        vol.astype(np.float64), m, output_shape=out_shape, order=1, mode=SCIPY_MODE[mode], cval=cval
    )
    span = float(np.ptp(vol)) + abs(cval) + 1.0
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * span)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9)),
    mode=st.sampled_from(sorted(SCIPY_MODE)),
    dtype=st.sampled_from(DTYPES),
)
def test_nearest_matches_scipy_away_from_ties(seed, shape, mode, dtype):
    rng = np.random.default_rng(seed)
    vol = _volume(rng, shape, dtype)
    m = _matrix(rng, shape)
    out_shape = (6, 7, 5)
    got = resample(vol[None], m, out_shape, "nearest", mode, 7.0, threads=1)[0]
    want = ndimage.affine_transform(
        vol.astype(np.float64), m, output_shape=out_shape, order=0, mode=SCIPY_MODE[mode], cval=7.0
    )
    # Rounding may differ only where a coordinate sits on a half-voxel tie.
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in out_shape], indexing="ij"), 0).reshape(3, -1)
    coords = m[:3, :3] @ grid + m[:3, 3:4]
    frac = np.abs((coords - np.floor(coords)) - 0.5).min(axis=0).reshape(out_shape)
    clear = frac > 1e-3
    np.testing.assert_array_equal(got[clear], want[clear])


@pytest.mark.parametrize("dtype", DTYPES)
def test_multichannel_and_strided_sources(dtype):
    rng = np.random.default_rng(1)
    base = _volume(rng, (3, 12, 14, 16), dtype)
    src = base[:, ::2, 1:, ::-1]  # non-contiguous, negative stride
    m = _matrix(rng, src.shape[1:])
    got = resample(src, m, (5, 6, 7), "linear", "edge", 0.0, threads=2)
    for c in range(3):
        want = ndimage.affine_transform(src[c].astype(np.float64), m, output_shape=(5, 6, 7), order=1, mode="nearest")
        np.testing.assert_allclose(got[c], want, atol=2e-4 * (float(np.ptp(base)) + 1))


def test_elastic_grid_matches_scipy_bspline():
    rng = np.random.default_rng(2)
    vol = rng.uniform(-100, 100, (20, 22, 24)).astype(np.float32)
    out_shape = (9, 10, 11)
    inv = (0.3, 0.25, 0.5)
    gshape = tuple(int(np.floor((n - 1) * k + 1e-9)) + 4 for n, k in zip(out_shape, inv, strict=True))
    grid = rng.normal(0, 1.5, (3, *gshape)).astype(np.float32)
    m = np.eye(4)
    m[:3, 3] = (5, 6, 7)
    got = resample(vol[None], m, out_shape, "linear", "constant", 0.0, grid=grid, grid_inv=inv, threads=1)[0]
    o = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in out_shape], indexing="ij"), 0).reshape(3, -1)
    u = o * np.asarray(inv)[:, None] + 1.0  # control node g sits at output coordinate (g - 1) / inv
    disp = np.stack(
        [ndimage.map_coordinates(grid[k].astype(np.float64), u, order=3, prefilter=False) for k in range(3)]
    )
    coords = m[:3, :3] @ o + m[:3, 3:4] + disp
    want = ndimage.map_coordinates(vol.astype(np.float64), coords, order=1, mode="grid-constant").reshape(out_shape)
    np.testing.assert_allclose(got, want, atol=5e-3)
