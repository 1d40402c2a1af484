"""Intensity ops against their numpy / scipy formulas (identity spatial map)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import fastmed.transforms as T
from fastmed._native import core
from fastmed.rng import KERNEL_STREAM_BIT


def _img(channels: int = 2, shape: tuple[int, ...] = (5, 12, 13), dtype: type = np.float32) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.uniform(-900, 900, (channels, *shape)).astype(dtype)


def _run(ops, img, **kw):
    return T.Compose(ops, **kw)({"image": img}, seed=11, index=4)


def _p(out, k=0):
    return out["params"]["ops"][k]["params"]


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.uint16])
def test_window(dtype):
    img = _img(dtype=dtype) if dtype != np.uint16 else np.abs(_img()).astype(np.uint16)
    out = _run([T.Window(-200, 400, out_range=(-1, 1))], img)
    x = img.astype(np.float64)
    want = (np.clip(x, -200, 400) + 200) / 600 * 2 - 1
    np.testing.assert_allclose(out["image"], want, atol=1e-6)


def test_clip_and_scale_fixed():
    img = _img()
    out = _run([T.Clip(-100, 50), T.ScaleIntensity(out_range=(0, 10), in_range=(-100, 50))], img)
    want = (np.clip(img.astype(np.float64), -100, 50) + 100) / 150 * 10
    np.testing.assert_allclose(out["image"], want, atol=1e-5)


def test_scale_intensity_per_sample_minmax():
    img = _img()
    out = _run([T.ScaleIntensity()], img)
    for c in range(2):
        x = img[c].astype(np.float64)
        np.testing.assert_allclose(out["image"][c], (x - x.min()) / (x.max() - x.min()), atol=1e-6)


def test_normalize_fixed():
    img = _img()
    out = _run([T.Normalize(mean=12.0, std=300.0)], img)
    np.testing.assert_allclose(out["image"], (img.astype(np.float64) - 12) / 300, atol=1e-6)


def test_normalize_per_sample_source_stats_exact_for_small_volumes():
    img = _img()  # fewer voxels than the subsample bound: the statistics are exact
    out = _run([T.Normalize()], img)
    for c in range(2):
        x = img[c].astype(np.float64)
        np.testing.assert_allclose(out["image"][c], (x - x.mean()) / x.std(), atol=1e-5)


def test_normalize_subsample_close_on_large_volume():
    rng = np.random.default_rng(3)
    img = rng.normal(100.0, 20.0, (1, 64, 80, 80)).astype(np.float32)
    out = T.Compose([T.CenterCrop((16, 16, 16)), T.Normalize()], stats_voxels=4096)({"image": img})
    x = img.astype(np.float64)
    want = (x[0, 24:40, 32:48, 32:48] - x.mean()) / x.std()
    np.testing.assert_allclose(out["image"][0], want, atol=0.05)


def test_normalize_with_mask_and_after_window():
    img = _img(channels=1)
    mask = (np.arange(img[0].size).reshape(img[0].shape) % 3 == 0).astype(np.uint8)
    out = T.Compose([T.Window(-500, 500), T.Normalize(mask_key="mask")])({"image": img, "mask": mask})
    w = (np.clip(img[0].astype(np.float64), -500, 500) + 500) / 1000
    sel = w[mask > 0]
    np.testing.assert_allclose(out["image"][0], (w - sel.mean()) / sel.std(), atol=1e-5)


def test_normalize_patch_stats():
    img = _img()
    out = _run([T.RandomCrop((3, 6, 7)), T.Normalize(stats="patch")], img)
    start = _p(out)["start"]
    for c in range(2):
        x = img[c, start[0] : start[0] + 3, start[1] : start[1] + 6, start[2] : start[2] + 7].astype(np.float64)
        np.testing.assert_allclose(out["image"][c], (x - x.mean()) / x.std(), atol=1e-5)


@pytest.mark.parametrize("invert", [False, True])
def test_gamma_on_known_range_and_stats(invert):
    img = _img()
    out = _run([T.Window(-500, 500), T.RandomGamma(gamma=(0.5, 2.0), invert=invert)], img)
    g = _p(out, 1)["gamma"]
    t = (np.clip(img.astype(np.float64), -500, 500) + 500) / 1000
    want = 1 - (1 - t) ** g if invert else t**g
    np.testing.assert_allclose(out["image"], want, atol=1e-5)
    out2 = _run([T.RandomGamma(gamma=(0.5, 2.0))], img)
    g2 = _p(out2)["gamma"]
    for c in range(2):
        x = img[c].astype(np.float64)
        lo, hi = x.min(), x.max()
        np.testing.assert_allclose(
            out2["image"][c], lo + (hi - lo) * ((x - lo) / (hi - lo)) ** g2, rtol=1e-4, atol=1e-2
        )


def test_contrast_and_brightness():
    img = _img()
    out = _run(
        [
            T.RandomContrast(factor=(0.5, 1.5)),
            T.RandomBrightness(delta=(5, 9)),
            T.RandomBrightness(delta=(1.1, 1.3), mode="mul"),
        ],
        img,
    )
    f, d, m = _p(out, 0)["factor"], _p(out, 1)["delta"], _p(out, 2)["delta"]
    for c in range(2):
        x = img[c].astype(np.float64)
        want = ((x - x.mean()) * f + x.mean() + d) * m
        np.testing.assert_allclose(out["image"][c], want, rtol=1e-5, atol=1e-3)


def test_noise_is_the_keyed_philox_stream():
    img = _img(channels=2, shape=(3, 5, 7))
    ops = [T.Window(-1000, 1000), T.RandomGaussianNoise(std=(0.2, 0.3))]
    out = T.Compose(ops)({"image": img}, seed=21, index=9, epoch=0)
    std = _p(out, 1)["std"]
    base = (np.clip(img.astype(np.float64), -1000, 1000) + 1000) / 2000
    z = np.empty(img.size, np.float32)
    core.fill_normal(z, 21, 9, 1 | KERNEL_STREAM_BIT)  # epoch 0, stream = op position 1
    np.testing.assert_allclose(out["image"], base + std * z.reshape(img.shape), atol=1e-5)


def test_noise_statistics():
    img = np.zeros((1, 40, 40, 40), np.float32)
    out = _run([T.RandomGaussianNoise(std=(0.5, 0.5))], img)
    v = out["image"].astype(np.float64)
    assert abs(v.mean()) < 0.01 and abs(v.std() - 0.5) < 0.01


@pytest.mark.parametrize("ndim", [2, 3])
def test_bias_field_formula(ndim):
    shape = (6, 9, 11) if ndim == 3 else (9, 11)
    img = np.abs(_img(channels=1, shape=shape)) + 1
    out = _run([T.RandomBiasField(coefficients=0.3, order=2)], img)
    c = _p(out)["coefficients"]
    axes = [np.linspace(-1, 1, n) if n > 1 else np.zeros(1) for n in ((1, *shape) if ndim == 2 else shape)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    poly = np.zeros_like(z)
    t = 0
    for i in range(3):
        for j in range(3 - i):
            for k in range(3 - i - j):
                poly += c[t] * z**i * y**j * x**k
                t += 1
    want = img[0].astype(np.float64) * np.exp(poly.reshape(shape))
    np.testing.assert_allclose(out["image"][0], want, rtol=1e-5)


@pytest.mark.parametrize("isotropic", [True, False])
def test_blur_matches_scipy(isotropic):
    img = _img(channels=2, shape=(7, 12, 13))
    out = _run([T.RandomGaussianBlur(sigma=(0.6, 1.6), isotropic=isotropic, truncate=3.0)], img)
    s = _p(out)["sigma"]
    for c in range(2):
        want = ndimage.gaussian_filter(img[c].astype(np.float64), s, mode="reflect", truncate=3.0)
        np.testing.assert_allclose(out["image"][c], want, atol=2e-3)


def test_blur_between_program_segments():
    img = _img(channels=1, shape=(6, 8, 9))
    ops = [T.Window(-500, 500), T.RandomGaussianBlur(sigma=(1.0, 1.0)), T.RandomBrightness(delta=(2, 2))]
    out = _run(ops, img)
    w = (np.clip(img[0].astype(np.float64), -500, 500) + 500) / 1000
    want = ndimage.gaussian_filter(w, 1.0, mode="reflect") + 2
    np.testing.assert_allclose(out["image"][0], want, atol=1e-5)


def test_low_res_matches_scipy_down_up():
    img = _img(channels=1, shape=(8, 10, 12))
    out = _run([T.RandomLowRes(zoom=(0.5, 0.5))], img)
    shape = img.shape[1:]
    small = [max(1, round(n * 0.5)) for n in shape]

    def grid(src, dst):
        axes = [np.arange(m) * ((n - 1) / (m - 1)) for n, m in zip(src, dst, strict=True)]
        return np.stack(np.meshgrid(*axes, indexing="ij"), 0)

    down = ndimage.map_coordinates(img[0].astype(np.float64), grid(shape, small), order=0, mode="nearest")
    up = ndimage.map_coordinates(down, grid(small, shape), order=1, mode="nearest")
    np.testing.assert_allclose(out["image"][0], up, atol=1e-3)


def test_probability_zero_is_identity():
    img = _img()
    ops = [
        T.RandomGamma(p=0.0),
        T.RandomContrast(p=0.0),
        T.RandomBrightness(p=0.0),
        T.RandomGaussianNoise(p=0.0),
        T.RandomBiasField(p=0.0),
        T.RandomGaussianBlur(p=0.0),
        T.RandomLowRes(p=0.0),
        T.RandomFlip(p=0.0),
        T.RandomRot90(p=0.0),
        T.RandomAffine(degrees=30, p=0.0),
        T.RandomElastic(p=0.0),
    ]
    np.testing.assert_array_equal(_run(ops, img)["image"], img)


def test_labels_get_no_intensity_ops():
    img = _img(channels=1)
    lab = np.random.default_rng(0).integers(0, 4, img.shape).astype(np.uint8)
    out = T.Compose([T.Window(-10, 10), T.RandomGaussianNoise(std=1.0)])({"image": img, "label": lab})
    assert out["label"].dtype == np.uint8
    np.testing.assert_array_equal(out["label"], lab)


def test_statistics_never_modify_the_source():
    img = _img(channels=1)
    before = img.copy()
    T.Compose([T.Window(-500, 500), T.Normalize(), T.RandomContrast()])({"image": img})
    np.testing.assert_array_equal(img, before)
