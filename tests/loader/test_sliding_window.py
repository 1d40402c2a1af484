"""Sliding-window inference and the patch aggregator against MONAI's ``sliding_window_inference``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data.utils import compute_importance_map
from monai.inferers import sliding_window_inference as monai_swi

import fastmed as fm
from fastmed.loader.aggregate import PatchAggregator, importance_map
from fastmed.loader.grid import GridPatches
from fastmed.loader.inference import sliding_window_inference

CASES = [  # (spatial shape, roi): divisible, non-divisible, smaller than the roi on some axes
    ((32, 32), (16, 16)),
    ((37, 50), (16, 20)),
    ((10, 50), (16, 16)),
    ((16, 16), (16, 16)),
    ((13, 21, 18), (8, 8, 8)),
    ((5, 21, 18), (8, 16, 7)),
]


def _net(ndim: int, cin: int, cout: int) -> torch.nn.Module:
    torch.manual_seed(ndim)
    conv = torch.nn.Conv2d if ndim == 2 else torch.nn.Conv3d
    return torch.nn.Sequential(conv(cin, 4, 3, padding=1), torch.nn.Tanh(), conv(4, cout, 3, padding=1)).eval()


@pytest.mark.parametrize(("shape", "roi"), CASES)
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
@pytest.mark.parametrize("mode", ["constant", "gaussian"])
# atol 1e-4: float32 conv sums differ with the torch thread count (seen 2.8e-5 under load).
def test_equals_monai(shape: tuple[int, ...], roi: tuple[int, ...], overlap: float, mode: str) -> None:
    net = _net(len(shape), 2, 3)
    x = np.random.default_rng(len(shape)).normal(size=(2, *shape)).astype(np.float32)
    with torch.no_grad():
        want = monai_swi(torch.from_numpy(x)[None], roi, 3, net, overlap=overlap, mode=mode, sigma_scale=0.125)[0]
        got = sliding_window_inference(net, x, roi, overlap=overlap, mode=mode, batch_size=3, sigma_scale=0.125)
    assert got.array.shape == want.shape == (3, *shape)
    torch.testing.assert_close(got.array, torch.as_tensor(want), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("sigma_scale", [0.125, (0.2, 0.1, 0.3)])
@pytest.mark.parametrize("patch", [(8, 8, 8), (5, 6, 9)])
def test_importance_map_equals_monai(sigma_scale: float | tuple[float, ...], patch: tuple[int, ...]) -> None:
    for mode in ("constant", "gaussian"):
        want = compute_importance_map(patch, mode=mode, sigma_scale=sigma_scale)
        torch.testing.assert_close(importance_map(patch, mode, sigma_scale), want, rtol=0, atol=0)


def test_aggregator_rebuilds_any_volume_from_its_own_patches() -> None:
    """Identity model: any blending weights give the input back (the weights divide out)."""
    vol = np.random.default_rng(3).normal(size=(3, 11, 23, 17)).astype(np.float32)
    grid = GridPatches(vol, (8, 8, 8), overlap=0.5)
    for mode in ("constant", "gaussian"):
        agg = PatchAggregator(grid.shape, grid.patch_size, mode=mode)
        for images, locs in grid.batches(5):
            agg.add(images, locs)
        np.testing.assert_allclose(agg.result().numpy(), vol, rtol=1e-5, atol=1e-5)


def test_aggregator_refuses_missing_patches_and_bad_shapes() -> None:
    grid = GridPatches(np.zeros((20, 20), np.float32), (8, 8), overlap=0.0)
    agg = PatchAggregator(grid.shape, grid.patch_size)
    with pytest.raises(ValueError, match="no patch"):
        agg.result()
    images, locs = next(grid.batches(2))
    with pytest.raises(ValueError, match="expected"):
        agg.add(images[:, :, :4], locs)
    agg.add(images, locs)
    with pytest.raises(ValueError, match="covered by no patch"):
        agg.result()
    with pytest.raises(ValueError, match="mode"):
        PatchAggregator((4, 4), (2, 2), mode="linear")


def test_result_carries_the_volume_geometry() -> None:
    direction = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    arr = np.random.default_rng(4).normal(size=(9, 14, 12)).astype(np.float32)
    vol = fm.Volume(arr, (2.5, 0.7, 0.8), (10.0, -20.0, 30.0), direction)
    net = _net(3, 1, 2)
    with torch.no_grad():
        out = sliding_window_inference(net, vol, (8, 8, 8), overlap=0.25)
        want = monai_swi(torch.from_numpy(arr)[None, None], (8, 8, 8), 4, net, overlap=0.25, mode="gaussian")[0]
    torch.testing.assert_close(out.array, torch.as_tensor(want), rtol=1e-5, atol=1e-4)
    labels = out.argmax()
    assert labels.spacing == vol.spacing and labels.origin == vol.origin and labels.shape == arr.shape
    np.testing.assert_array_equal(labels.direction, direction)
    np.testing.assert_array_equal(labels.array, torch.argmax(want, 0).numpy())
    np.testing.assert_array_equal(out.channel(1).array, want[1].numpy())
