"""The CPU kernel's fast paths against its general path and scipy.ndimage.

Two shortcuts in csrc/cpu: a map that is a signed axis permutation with an integer
translation (crop, flip, rot90) is a strided copy, and int16/uint16/int32/float32
sources with a unit x stride are sampled with AVX2 gathers where the CPU has them.
Both must give exactly the values of the general trilinear path: a float32 copy of
the source with an x stride of 2 goes through that path (every integer here is exact
in float32), so the outputs are compared bit for bit, and all against scipy.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

import fastmed.transforms as T
from fastmed.backends.cpu import resample

SCIPY_MODE = {"constant": "grid-constant", "edge": "nearest", "reflect": "mirror"}
MODES = sorted(SCIPY_MODE)


def _volume(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    lo, hi = (0, 250) if dtype in (np.uint8, np.uint16) else (-1000, 1000)
    return rng.integers(lo, hi, shape).astype(dtype)


def _scalar_path(vol: np.ndarray) -> np.ndarray:
    """A float32 view of ``vol`` with x stride 2: the kernel's general (non-gather) path."""
    wide = np.zeros((*vol.shape[:-1], 2 * vol.shape[-1]), np.float32)
    wide[..., ::2] = vol
    return wide[..., ::2]


def _rotation(rng: np.random.Generator, shape: tuple[int, ...], out_shape: tuple[int, ...], reach: float) -> np.ndarray:
    """A random rotation/scale about the centres; ``reach`` > 1 pushes the patch past the border."""
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    lin = q @ np.diag(rng.uniform(0.8, 1.2, 3)) * reach
    m = np.eye(4)
    m[:3, :3] = lin
    m[:3, 3] = (np.asarray(shape) - 1) / 2 - lin @ ((np.asarray(out_shape) - 1) / 2)
    return m


def _permutation(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A signed axis permutation with an integer translation, partly outside the source."""
    perm = rng.permutation(3)
    m = np.zeros((4, 4))
    m[3, 3] = 1
    for k in range(3):
        m[perm[k], k] = rng.choice([-1.0, 1.0])
    m[:3, 3] = [rng.integers(-4, n + 4) for n in shape]
    return m


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.float32])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reach", [0.6, 1.4])
def test_gather_sampling_equals_general_path_and_scipy(dtype, mode, reach):
    rng = np.random.default_rng(int(reach * 10) + MODES.index(mode))
    shape, out_shape = (20, 24, 40), (9, 10, 37)  # 4 whole blocks of 8 columns and a tail of 5
    vol = _volume(rng, shape, dtype)
    for _ in range(3):
        m = _rotation(rng, shape, out_shape, reach)
        got = resample(vol[None], m, out_shape, "linear", mode, 3.0, threads=1)
        ref = resample(_scalar_path(vol[None]), m, out_shape, "linear", mode, 3.0, threads=1)
        np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
        want = ndimage.affine_transform(
            vol.astype(np.float64), m, output_shape=out_shape, order=1, mode=SCIPY_MODE[mode], cval=3.0
        )
        np.testing.assert_allclose(got[0], want, rtol=0, atol=2e-4 * 2000)


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.float32])
@pytest.mark.parametrize("mode", MODES)
def test_gather_2d_sampling_equals_general_path_and_scipy(dtype, mode):
    rng = np.random.default_rng(3 + MODES.index(mode))
    img = _volume(rng, (50, 61), dtype)
    for src in (img[None, None], img.reshape(1, 1, 50, 61).copy()):  # depth 1: a zero or a real z stride
        for _ in range(3):
            ang = rng.uniform(-0.5, 0.5)
            lin = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]]) * rng.uniform(0.7, 1.3)
            m = np.eye(4)
            m[1:3, 1:3] = lin
            m[1:3, 3] = (24.5, 30.0) - lin @ (12.0, 16.5)
            got = resample(src, m, (1, 25, 34), "linear", mode, 2.0)
            ref = resample(_scalar_path(src), m, (1, 25, 34), "linear", mode, 2.0)
            np.testing.assert_array_equal(got, ref)
            want = ndimage.affine_transform(
                img.astype(np.float64), m[1:, 1:], output_shape=(25, 34), order=1, mode=SCIPY_MODE[mode], cval=2.0
            )
            np.testing.assert_allclose(got[0, 0], want, rtol=0, atol=2e-4 * 2000)


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.float32])
def test_gather_strided_and_multichannel_sources(dtype):
    rng = np.random.default_rng(5)
    base = _volume(rng, (2, 24, 30, 80), dtype)
    out_shape = (6, 7, 24)
    for src in (base[:, ::2, 1:, ::2], base[:, :, ::-1, :], base[:, 2:, :, ::-1], base[:, :, :, 3:]):
        m = _rotation(rng, src.shape[1:], out_shape, 0.7)
        got = resample(src, m, out_shape, "linear", "edge", 0.0, threads=2)
        ref = resample(_scalar_path(src), m, out_shape, "linear", "edge", 0.0, threads=2)
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float32])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("interp", ["linear", "nearest"])
def test_integer_permutation_map_is_a_copy(dtype, mode, interp):
    rng = np.random.default_rng(MODES.index(mode) + 3 * (interp == "linear"))
    shape, out_shape = (7, 9, 11), (8, 6, 13)
    vol = _volume(rng, (2, *shape), dtype)
    for _ in range(6):
        m = _permutation(rng, shape)
        got = resample(vol, m, out_shape, interp, mode, -7.0, threads=1)
        for c in range(2):
            want = ndimage.affine_transform(
                vol[c].astype(np.float64), m, output_shape=out_shape, order=0, mode=SCIPY_MODE[mode], cval=-7.0
            )
            np.testing.assert_array_equal(got[c], want.astype(np.float32))
        # The general path (a matrix that is not an exact permutation) gives the same values.
        nudged = m.copy()
        nudged[0, 3] += 1e-6
        near = resample(vol, nudged, out_shape, "nearest", mode, -7.0, threads=1)
        np.testing.assert_array_equal(got, near)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
def test_crop_flip_rot90_pipeline_equals_numpy(dtype):
    rng = np.random.default_rng(11)
    img = _volume(rng, (1, 20, 26, 30), dtype)
    lab = rng.integers(0, 5, img.shape).astype(np.uint8)
    aug = T.Compose([T.RandomCrop((12, 16, 18)), T.RandomFlip(p=0.5), T.RandomRot90(axes=(1, 2))])
    for index in range(6):
        out = aug({"image": img, "label": lab}, seed=4, index=index)
        ops = out["params"]["ops"]
        z, y, x = ops[0]["params"]["start"]
        want_i = img[:, z : z + 12, y : y + 16, x : x + 18].astype(np.float32)
        want_l = lab[:, z : z + 12, y : y + 16, x : x + 18]
        flips = tuple(a + 1 for a, f in enumerate(ops[1]["params"]["flip"]) if f)
        want_i, want_l = np.flip(want_i, flips), np.flip(want_l, flips)
        k = ops[2]["params"]["k"]
        want_i, want_l = np.rot90(want_i, k, (2, 3)), np.rot90(want_l, k, (2, 3))
        np.testing.assert_array_equal(out["image"], want_i)
        np.testing.assert_array_equal(out["label"], want_l)


def test_fast_paths_same_on_1_and_2_threads():
    rng = np.random.default_rng(2)
    img = _volume(rng, (1, 40, 48, 56), np.int16)
    pipes = {
        "copy": [T.RandomCrop((24, 40, 64)), T.RandomFlip(), T.Window(-500, 500), T.RandomGaussianNoise()],
        "gather": [T.RandomCrop((24, 32, 40)), T.RandomAffine(degrees=10), T.RandomElastic(), T.RandomGamma()],
    }
    for ops, index in itertools.product(pipes.values(), range(2)):
        a = T.Compose(ops, threads=1)({"image": img}, seed=1, index=index)["image"]
        b = T.Compose(ops, threads=2)({"image": img}, seed=1, index=index)["image"]
        np.testing.assert_array_equal(a, b)


def test_noise_on_wide_rows_is_the_keyed_philox_stream():
    # Rows of 133 voxels: whole SIMD runs of Philox blocks plus a scalar tail, and rows
    # that start mid-block (133 is odd), against fastmed._core.fill_normal (libm Box-Muller).
    from fastmed._native import core
    from fastmed.rng import KERNEL_STREAM_BIT

    img = np.zeros((2, 3, 4, 133), np.float32)
    out = T.Compose([T.RandomGaussianNoise(std=(0.5, 0.5))])({"image": img}, seed=8, index=2)
    z = np.empty(img.size, np.float32)
    core.fill_normal(z, 8, 2, 0 | KERNEL_STREAM_BIT)
    np.testing.assert_allclose(out["image"], 0.5 * z.reshape(img.shape), atol=1e-5)
