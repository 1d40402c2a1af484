"""Flips, quarter turns, 90-degree affines and crops equal their numpy counterparts exactly."""

from __future__ import annotations

import numpy as np
import pytest

import fastmed.transforms as T

SHAPES = {2: (9, 11), 3: (6, 9, 11)}


def _sample(ndim: int, channels: int = 2, dtype: type = np.int16) -> dict:
    rng = np.random.default_rng(ndim)
    img = rng.integers(-500, 500, (channels, *SHAPES[ndim])).astype(dtype)
    return {"image": img}


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_flip_equals_numpy(ndim, seed):
    s = _sample(ndim)
    out = T.Compose([T.RandomFlip(p=0.5)])(s, seed=seed, index=1)
    want = s["image"]
    for a, f in enumerate(out["params"]["ops"][0]["params"]["flip"]):
        if f:
            want = np.flip(want, axis=a + 1)
    np.testing.assert_array_equal(out["image"], want.astype(np.float32))


@pytest.mark.parametrize("ndim,axes", [(2, None), (3, None), (3, (0, 1)), (3, (2, 0))])
@pytest.mark.parametrize("seed", range(5))
def test_rot90_equals_numpy(ndim, axes, seed):
    s = _sample(ndim)
    out = T.Compose([T.RandomRot90(axes=axes, p=0.9)])(s, seed=seed, index=2)
    k = out["params"]["ops"][0]["params"]["k"]
    plane = (ndim - 2, ndim - 1) if axes is None else axes
    want = np.rot90(s["image"], k, axes=(plane[0] + 1, plane[1] + 1))
    np.testing.assert_array_equal(out["image"], want.astype(np.float32))


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("ndim", [2, 3])
def test_affine_quarter_turn_equals_rot90(k, ndim):
    shape = (5, 8, 8) if ndim == 3 else (8, 8)
    img = np.random.default_rng(k).normal(size=(1, *shape)).astype(np.float32)
    op = T.RandomAffine(degrees=((90.0 * k, 90.0 * k), (0, 0), (0, 0)), p=1.0)
    out = T.Compose([op])({"image": img}, seed=0)
    want = np.rot90(img, k, axes=(ndim - 1, ndim))  # +90 about z turns (y, x) like numpy.rot90
    np.testing.assert_array_equal(out["image"], want)


@pytest.mark.parametrize("angle,axes", [((90, 0, 0), (2, 3)), ((0, 90, 0), (3, 1)), ((0, 0, 90), (1, 2))])
def test_affine_quarter_turn_each_axis(angle, axes):
    img = np.random.default_rng(5).normal(size=(1, 7, 7, 7)).astype(np.float32)
    op = T.RandomAffine(degrees=tuple((a, a) for a in angle), p=1.0)
    out = T.Compose([op])({"image": img}, seed=0)
    np.testing.assert_array_equal(out["image"], np.rot90(img, 1, axes=axes))


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_random_crop_inside_equals_slicing(ndim, seed):
    s = _sample(ndim)
    size = (4, 5) if ndim == 2 else (3, 4, 5)
    out = T.Compose([T.RandomCrop(size)])(s, seed=seed, index=seed)
    start = out["params"]["ops"][0]["params"]["start"]
    sl = (slice(None),) + tuple(slice(a, a + n) for a, n in zip(start, size, strict=True))
    np.testing.assert_array_equal(out["image"], s["image"][sl].astype(np.float32))


@pytest.mark.parametrize("mode,np_mode", [("constant", "constant"), ("edge", "edge"), ("reflect", "reflect")])
@pytest.mark.parametrize("ndim", [2, 3])
def test_crop_with_padding_equals_pad_then_slice(mode, np_mode, ndim):
    s = _sample(ndim, channels=1)
    shape = SHAPES[ndim]
    size = tuple(n + 5 for n in shape)  # larger than the image on every axis
    for op_cls in (T.CenterCrop, T.RandomCrop):
        op = op_cls(size, pad_mode=mode, pad_value=-7.0)
        for seed in range(3):
            out = T.Compose([op])(s, seed=seed)
            start = out["params"]["ops"][0]["params"]["start"]
            pads = [(-a, a + n - m) for a, n, m in zip(start, size, shape, strict=True)]
            kw = {"constant_values": -7} if np_mode == "constant" else {}
            padded = np.pad(s["image"][0], pads, mode=np_mode, **kw)
            np.testing.assert_array_equal(out["image"][0], padded.astype(np.float32))


def test_center_crop_start():
    s = _sample(3)
    out = T.Compose([T.CenterCrop((4, 4, 4))])(s)
    assert out["params"]["ops"][0]["params"]["start"] == [(n - 4) // 2 for n in SHAPES[3]]


def test_crop_then_flip_composes():
    s = _sample(3, channels=1)
    out = T.Compose([T.RandomCrop((4, 5, 6)), T.RandomFlip(p=1.0)])(s, seed=3)
    start = out["params"]["ops"][0]["params"]["start"]
    sl = (slice(None),) + tuple(slice(a, a + n) for a, n in zip(start, (4, 5, 6), strict=True))
    np.testing.assert_array_equal(out["image"], np.flip(s["image"][sl], axis=(1, 2, 3)).astype(np.float32))


@pytest.mark.parametrize("target", [(2.0, 1.0, 0.5), (1.0, 3.0, 2.0)])
def test_resample_matches_scipy_zoom(target):
    from scipy import ndimage

    img = np.random.default_rng(3).normal(size=(1, 8, 10, 12)).astype(np.float32)
    spacing = (1.5, 1.0, 1.0)
    out = T.Compose([T.Resample(target)])({"image": img, "spacing": spacing})
    shape = tuple(max(1, round(n * s / t)) for n, s, t in zip(img.shape[1:], spacing, target, strict=True))
    assert out["image"].shape == (1, *shape)
    want = ndimage.zoom(
        img[0].astype(np.float64),
        [m / n for m, n in zip(shape, img.shape[1:], strict=True)],
        order=1,
        grid_mode=False,
        mode="nearest",
    )
    np.testing.assert_allclose(out["image"][0], want, atol=1e-5)


def test_affine_scale_zooms_in_about_centre():
    img = np.zeros((1, 1, 21, 21), np.float32)
    img[0, 0, 10, 10:15] = 1.0  # a bar from the centre towards +x
    out = T.Compose([T.RandomAffine(scale=(2.0, 2.0))])({"image": img[:, 0]}, seed=0)
    # Magnified by two: the bar reaches twice as far from the centre.
    assert out["image"][0, 10, 18] > 0.5 and out["image"][0, 10, 21 - 1] < 0.5
