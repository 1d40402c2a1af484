"""The augmentation montage: PNG size, the original panel is the windowed centre crop, the others R3D samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fastmed.inspect.montage import montage_size
from fastmed.train.report.montage import augmentation_montage, centre_crop
from fastmed.transforms.presets import preset

mpl_image = pytest.importorskip("matplotlib.image")


def _volume(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    vol = -1000 + 1400 * np.exp(-((y - shape[1] / 2) ** 2 + (x - shape[2] / 2) ** 2) / 200.0) * (z % 4 + 1) / 4
    return (vol + rng.normal(0, 20, shape)).astype(np.int16)


def test_centre_crop_is_numpy_slicing() -> None:
    a = np.arange(5 * 6 * 7).reshape(5, 6, 7)
    assert np.array_equal(centre_crop(a, (3, 4, 9)), a[1:4, 1:5, :])


def test_montage_rows_show_the_windowed_crop_and_r3d_samples(tmp_path: Path) -> None:
    vols = [("ct-a", _volume((20, 40, 44), 0), (2.0, 1.0, 1.0)), ("ct-b", _volume((12, 30, 30), 1), (1.5, 0.8, 0.8))]
    path = tmp_path / "montage.png"
    shown = augmentation_montage(vols, path, patch=(8, 24, 24), n=2, seed=4, panel_px=64)
    png = mpl_image.imread(path)
    assert (png.shape[1], png.shape[0]) == montage_size(2, 3, 64)
    for (_, vol, spacing), slices in zip(vols, shown, strict=True):
        crop = vol[(vol.shape[0] - 8) // 2 :][:8, (vol.shape[1] - 24) // 2 :][:, :24, (vol.shape[2] - 24) // 2 :][
            :, :, :24
        ]
        windowed = (np.clip(crop.astype(np.float32), -1000, 400) + 1000) / 1400
        np.testing.assert_allclose(slices[0], windowed[4], rtol=1e-6, atol=1e-6)
        aug = preset("r3d", patch=(8, 24, 24), fit_shape=vol.shape)
        for i in range(2):
            out = np.asarray(aug({"image": vol[None], "spacing": spacing}, seed=4, index=i)["image"])[0]
            assert np.array_equal(slices[1 + i], out[out.shape[0] // 2])
        assert not np.allclose(slices[1], slices[2])
