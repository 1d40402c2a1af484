"""Fixed-size 2D batches (X-ray) from images of different sizes: ``Letterbox`` through ``fm.DataLoader``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch.utils.data import Subset

import fastmed as fm
from fastmed.loader.fast import FastIterator
from fastmed.store.dataset import VolumeDataset

SIZE = (48, 64)
SHAPES = [(120, 100), (64, 200), (300, 90), (48, 64), (97, 131), (250, 250), (70, 65)]


class Radiographs:
    """Channel-first 2D images of different sizes with their pixel spacing (a map-style dataset)."""

    def __len__(self) -> int:
        return len(SHAPES)

    def __getitem__(self, i: int) -> dict[str, Any]:
        img = np.random.default_rng(i).normal(100.0, 20.0, SHAPES[i]).astype(np.float32)
        return {"image": img[None], "spacing": (0.2, 0.2), "id": i}


def _oracle(img: np.ndarray) -> np.ndarray:
    """scipy: aligned-corner zoom to the kept-aspect shape (every image here shrinks), then centred padding."""
    scale = min(s / n for s, n in zip(SIZE, img.shape, strict=True))
    inner = [min(s, max(1, round(n * scale))) for n, s in zip(img.shape, SIZE, strict=True)]
    z = ndimage.zoom(
        img.astype(np.float64), [m / n for m, n in zip(inner, img.shape, strict=True)], order=1, grid_mode=False
    )
    before = [(s - m) // 2 for s, m in zip(SIZE, inner, strict=True)]
    return np.pad(z, [(b, s - m - b) for b, s, m in zip(before, SIZE, inner, strict=True)])


@pytest.mark.parametrize("workers", [0, 2])
def test_fixed_size_batches_from_images_of_any_size(workers: int) -> None:
    ds = Radiographs()
    aug = fm.Compose([fm.Letterbox(SIZE)])
    loader = fm.DataLoader(ds, batch_size=3, transform=aug, seed=0, num_workers=workers)
    seen = 0
    for batch in loader:
        assert batch["image"].shape[1:] == (1, *SIZE) and batch["image"].dtype == torch.float32
        for img, i in zip(batch["image"], batch["id"], strict=True):
            np.testing.assert_allclose(
                img[0].numpy(), _oracle(ds[int(i)]["image"][0]), atol=5e-3
            )  # float32 coords, values ~100
            seen += 1
    assert seen == len(ds)


@pytest.fixture(scope="module")
def radiographs(tmp_path_factory: pytest.TempPathFactory) -> Subset[Any]:
    archive = fm.generate_archive(tmp_path_factory.mktemp("xray") / "archive", 4, 2)
    ds = VolumeDataset(fm.index(archive.root, cache=False))
    keep = [i for i in range(len(ds)) if ds[i]["image"].ndim == 2]
    assert keep, "the synthetic archive has no radiograph"
    return Subset(ds, keep)  # type: ignore[arg-type]


def test_lazy_radiographs_take_the_fast_path(radiographs: Subset[Any]) -> None:
    aug = fm.Compose([fm.Letterbox((40, 72), pad_value=-5.0)])
    fast = fm.DataLoader(radiographs, batch_size=2, transform=aug, seed=3)
    slow = fm.DataLoader(radiographs, batch_size=2, transform=aug, seed=3, fast=False)
    got, want = list(fast), list(slow)
    assert isinstance(iter(fast).inner, FastIterator)
    for g, w in zip(got, want, strict=True):
        assert g["image"].shape[1:] == (1, 40, 72)
        torch.testing.assert_close(g["image"], w["image"], rtol=0, atol=0)
    item = radiographs[0]
    full = aug({"image": item["image"].read()[None], "spacing": item["spacing"]}, seed=3)
    np.testing.assert_array_equal(got[0]["image"][0].numpy(), full["image"])
