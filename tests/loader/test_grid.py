"""Grid sampling (``GridPatches``) against MONAI's sliding-window grid, window reads and DataLoader use."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from monai.data.utils import dense_patch_slices
from monai.inferers.utils import _get_scan_interval

import fastmed as fm
from fastmed.loader.grid import GridPatches, grid_starts
from fastmed.volume_source import LazyVolume

SHAPES = [
    ((37, 50), (16, 20)),
    ((10, 50), (16, 16)),
    ((16, 16), (16, 16)),
    ((13, 21, 18), (8, 8, 8)),
    ((5, 9, 30), (8, 16, 7)),
]


def _monai_starts(shape: Sequence[int], roi: Sequence[int], overlap: float) -> np.ndarray:
    """MONAI's window starts in the volume's indices (its padded frame shifted back by the padding)."""
    size = [max(s, r) for s, r in zip(shape, roi, strict=True)]
    before = np.array([(z - s) // 2 for z, s in zip(size, shape, strict=True)])
    interval = _get_scan_interval(size, roi, len(shape), (overlap,) * len(shape))
    slices = dense_patch_slices(size, roi, interval)
    return np.array([[sl.start for sl in s] for s in slices]) - before


@pytest.mark.parametrize(("shape", "roi"), SHAPES)
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.9])
def test_starts_are_monai_grid_and_cover_every_voxel(
    shape: tuple[int, ...], roi: tuple[int, ...], overlap: float
) -> None:
    starts = grid_starts(shape, roi, overlap)
    np.testing.assert_array_equal(starts, _monai_starts(shape, roi, overlap))
    covered = np.zeros(shape, dtype=np.int32)
    for s in starts:
        covered[tuple(slice(max(a, 0), a + r) for a, r in zip(s, roi, strict=True))] += 1
    assert covered.min() >= 1
    assert len({tuple(s) for s in starts}) == len(starts)


def test_per_axis_overlap_and_invalid_arguments() -> None:
    starts = grid_starts((40, 40), (16, 16), (0.0, 0.5))
    assert sorted({int(s[0]) for s in starts}) == [0, 16, 24]
    assert sorted({int(s[1]) for s in starts}) == [0, 8, 16, 24]
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="overlap"):
            grid_starts((40, 40), (16, 16), bad)
    with pytest.raises(ValueError, match="patch_size"):
        grid_starts((40, 40), (16, 0), 0.25)
    with pytest.raises(ValueError, match="spatial"):
        GridPatches(np.zeros((2, 3, 40, 40)), (16, 16))


@pytest.mark.parametrize(("shape", "roi"), SHAPES)
def test_patches_equal_slices_of_the_padded_volume(shape: tuple[int, ...], roi: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    vol = rng.normal(size=(2, *shape)).astype(np.float32)
    grid = GridPatches(vol, roi, overlap=0.5, pad_value=-7.0)
    size = [max(s, r) for s, r in zip(shape, roi, strict=True)]
    before = [(z - s) // 2 for z, s in zip(size, shape, strict=True)]
    padded = np.pad(
        vol, [(0, 0)] + [(b, z - s - b) for b, z, s in zip(before, size, shape, strict=True)], constant_values=-7
    )
    for i in range(len(grid)):
        item = grid[i]
        box = tuple(slice(a + b, a + b + r) for a, b, r in zip(item["location"], before, roi, strict=True))
        np.testing.assert_array_equal(item["image"], padded[(slice(None), *box)])
    images, locs = next(grid.batches(3))
    assert images.shape == (min(3, len(grid)), 2, *roi)
    np.testing.assert_array_equal(images[0], grid[0]["image"])
    np.testing.assert_array_equal(locs, grid.locations[: len(locs)])
    with pytest.raises(IndexError):
        grid[len(grid)]


class CountingVolume:
    """A LazyVolume over an array that records every box it is asked for."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.spacing = (2.0, 0.5, 0.5)
        self.stats: dict[str, float] = {}
        self.boxes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> np.ndarray:
        self.boxes.append((tuple(lo), tuple(hi)))
        return self.array[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))].copy()


def test_lazy_volume_reads_only_each_patch_window() -> None:
    arr = np.arange(6 * 20 * 22, dtype=np.int16).reshape(6, 20, 22)
    src = CountingVolume(arr)
    grid = GridPatches(src, (8, 8, 8), overlap=0.25)
    assert isinstance(src, LazyVolume)
    want = GridPatches(arr, (8, 8, 8), overlap=0.25)
    for i in range(len(grid)):
        np.testing.assert_array_equal(grid[i]["image"], want[i]["image"])
    assert len(src.boxes) == len(grid)
    for lo, hi in src.boxes:  # one window per patch, inside the volume, never larger than a patch
        assert all(0 <= a < b <= s and b - a <= 8 for a, b, s in zip(lo, hi, arr.shape, strict=True))
    assert grid.geometry.spacing == (2.0, 0.5, 0.5)


def test_volume_source_keeps_geometry() -> None:
    direction = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    vol = fm.Volume(np.zeros((5, 6, 7), np.float32), (3.0, 1.0, 1.5), (1.0, 2.0, 3.0), direction)
    g = GridPatches(vol, (4, 4, 4)).geometry
    assert g.spacing == (3.0, 1.0, 1.5) and g.origin == (1.0, 2.0, 3.0)
    np.testing.assert_array_equal(g.direction, direction)


def test_map_style_dataset_through_fm_dataloader() -> None:
    vol = np.random.default_rng(1).normal(size=(21, 30)).astype(np.float32)
    grid = GridPatches(vol, (16, 16), overlap=0.25)
    loader = fm.DataLoader(grid, batch_size=4)
    seen = []
    for batch in loader:
        assert batch["image"].shape[1:] == (1, 16, 16) and batch["image"].dtype == torch.float32
        for img, loc in zip(batch["image"], batch["location"], strict=True):
            np.testing.assert_array_equal(img.numpy(), grid.read_patch(loc.tolist()))
            seen.append(tuple(loc.tolist()))
    assert seen == [tuple(s) for s in grid.locations.tolist()]
    torch_batches = list(torch.utils.data.DataLoader(grid, batch_size=4))
    assert len(torch_batches) == len(loader)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fastmed.synth import generate_archive

    root = tmp_path_factory.mktemp("grid")
    archive = generate_archive(root / "archive", 1, 3)
    res = fm.convert(fm.index(archive.root, cache=False), root / "cache.zarr", workers=1, progress=False)
    assert not res.failed
    return root / "cache.zarr"


def test_store_volume_patches_read_only_their_chunks(store: Path) -> None:
    from fastmed.store.window import StoreVolume, chunks_in_box

    st = fm.open_store(store)
    sid = st.ids[0]
    vol: Any = StoreVolume(store, sid)
    whole = st.read(sid)
    grid = GridPatches(vol, (16, 24, 24), overlap=0.25)
    expected_chunks = 0
    for i in range(len(grid)):
        item = grid[i]
        lo = [max(int(a), 0) for a in item["location"]]
        hi = [min(int(a) + p, s) for a, p, s in zip(item["location"], grid.patch_size, whole.shape, strict=True)]
        expected_chunks += len(chunks_in_box(vol.info, lo, hi))
        np.testing.assert_array_equal(item["image"][0], whole[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))])
    assert vol.chunks_read == expected_chunks
    g, row = grid.geometry, st.row(sid)
    assert g.spacing == tuple(row["spacing"]) and g.origin == tuple(row["origin"])
    np.testing.assert_array_equal(g.direction, np.asarray(row["direction"]).reshape(3, 3))
