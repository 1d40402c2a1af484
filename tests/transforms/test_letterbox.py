"""Letterbox against scipy: ``ndimage.zoom`` (aligned corners) then centred ``np.pad``, and ``affine_transform``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import fastmed.transforms as T
from fastmed.errors import TransformError
from fastmed.transforms.letterbox import letterbox_layout


def _zoom_then_pad(img: np.ndarray, size: tuple[int, ...], pad: float) -> tuple[np.ndarray, tuple[int, ...]]:
    """The oracle: scipy's aligned-corner zoom to the kept-aspect shape, then centred constant padding."""
    scale = min(s / n for s, n in zip(size, img.shape, strict=True))
    inner = tuple(min(s, max(1, round(n * scale))) for n, s in zip(img.shape, size, strict=True))
    z = ndimage.zoom(
        img.astype(np.float64), [m / n for m, n in zip(inner, img.shape, strict=True)], order=1, grid_mode=False
    )
    assert z.shape == inner
    before = [(s - m) // 2 for s, m in zip(size, inner, strict=True)]
    return np.pad(z, [(b, s - m - b) for b, s, m in zip(before, size, inner, strict=True)], constant_values=pad), inner


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((300, 200), (64, 64)),
        ((200, 300), (64, 48)),
        ((97, 131), (50, 50)),
        ((64, 64), (64, 64)),
        ((40, 90, 70), (16, 20, 24)),
    ],
)
def test_shrinking_equals_zoom_then_pad(shape: tuple[int, ...], size: tuple[int, ...]) -> None:
    img = np.random.default_rng(len(shape)).normal(size=shape).astype(np.float32)
    out = T.Compose([T.Letterbox(size, pad_value=-1.0)], threads=1)(
        {"image": img[None], "spacing": (1.0,) * len(shape)}
    )
    want, _ = _zoom_then_pad(img, size, -1.0)
    assert out["image"].shape == (1, *size)
    np.testing.assert_allclose(out["image"][0], want, atol=1e-4)  # float32 coordinates


@pytest.mark.parametrize(("shape", "size"), [((20, 13), (64, 64)), ((9, 30), (32, 48)), ((1, 7), (8, 8))])
def test_enlarging_equals_scipy_inside_and_grid_constant_at_the_rim(
    shape: tuple[int, ...], size: tuple[int, ...]
) -> None:
    img = np.random.default_rng(5).normal(size=shape).astype(np.float32)
    out = T.Compose([T.Letterbox(size, pad_value=3.0)], threads=1)({"image": img[None], "spacing": (1.0,) * len(shape)})
    got = out["image"][0]
    inner, offset = letterbox_layout(shape, size)
    want, _ = _zoom_then_pad(img, size, 3.0)
    box = tuple(slice(o, o + m) for o, m in zip(offset, inner, strict=True))
    np.testing.assert_allclose(got[box], want[box], atol=1e-4)  # the image part
    r = [(n - 1) / (m - 1) if m > 1 else 1.0 for n, m in zip(shape, inner, strict=True)]
    shift = [-o * ri + ((n - 1) / 2 if m == 1 else 0.0) for o, ri, n, m in zip(offset, r, shape, inner, strict=True)]
    full = ndimage.affine_transform(
        img.astype(np.float64), np.diag(r), shift, size, order=1, mode="grid-constant", cval=3.0
    )
    np.testing.assert_allclose(got, full, atol=1e-4)  # everywhere, rim included


def test_spacing_labels_and_errors() -> None:
    img = np.zeros((1, 101, 51), np.float32)
    lab = np.zeros((1, 101, 51), np.uint8)
    lab[0, 40:60, 10:20] = 2
    out = T.Compose([T.Letterbox((64, 64))], label_keys=("label",), threads=1)(
        {"image": img, "label": lab, "spacing": (0.5, 0.5)}
    )
    assert out["image"].shape == out["label"].shape == (1, 64, 64)
    assert out["spacing"] == pytest.approx((0.5 * 100 / 63, 0.5 * 50 / 31))  # letterbox_layout: inner (64, 32)
    assert set(np.unique(out["label"])) == {0, 2}
    with pytest.raises(TransformError, match="axes"):
        T.Compose([T.Letterbox((64, 64, 64))])({"image": img, "spacing": (1.0, 1.0)})
    with pytest.raises(TransformError, match="positive"):
        T.Letterbox((0, 64))
