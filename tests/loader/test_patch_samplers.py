"""Patch samplers and samples_per_volume: locations, foreground oversampling, one read per group, both paths.

Oracles: the full numpy volume cropped (and np.pad-ed) at each batch's ``location``; a
chi-square test (scipy.stats) for uniformity; the generic (torch worker) path for the
fast path; an uninterrupted run for a resumed one.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch
from scipy import stats

import fastmed as fm
from fastmed.loader import LoaderUnsupportedError, PatchSource
from fastmed.loader.fast import FastIterator
from fastmed.loader.patch_order import PatchOrder
from tests.loader._datasets import RangeIterable, to_py
from tests.loader._patch_data import LazyVolumes

SHAPES = [(20, 24, 28), (24, 20, 22), (18, 26, 24), (22, 22, 22), (26, 18, 20)]


def _crop(full: np.ndarray, location: Sequence[int], mode: str = "constant", value: float = 0.0) -> np.ndarray:
    """The numpy oracle of a patch: the volume padded by the patch size, then sliced at ``location``."""
    d = len(location) // 2
    lo, hi = np.asarray(location[:d]), np.asarray(location[d:])
    pad = int((hi - lo).max())
    kw: dict[str, Any] = {"constant_values": value} if mode == "constant" else {}
    padded = np.pad(full, pad, mode=mode, **kw)
    return padded[tuple(slice(a + pad, b + pad) for a, b in zip(lo, hi, strict=True))]


def _loader(ds: Any, sampler: Any, k: int = 1, **kw: Any) -> fm.DataLoader:
    kw.setdefault("batch_size", 4)
    kw.setdefault("shuffle", True)
    kw.setdefault("seed", 11)
    return fm.DataLoader(ds, patch_sampler=sampler, samples_per_volume=k, **kw)


# ---- samplers on their own ------------------------------------------------------------


def test_random_patches_are_uniform() -> None:
    sampler = fm.RandomPatchSampler((8, 6, 10))
    source = PatchSource((38, 30, 40))  # starts 0..30, 0..24, 0..30
    starts = np.array([sampler.locate(5, 0, i, source, False) for i in range(3000)])
    assert starts.min(axis=0).tolist() == [0, 0, 0] and starts.max(axis=0).tolist() == [30, 24, 30]
    cells = [np.minimum(starts[:, a] * 3 // (n + 1), 2) for a, n in enumerate((31, 25, 31))]
    counts = np.bincount(cells[0] * 9 + cells[1] * 3 + cells[2], minlength=27)
    # expected count per cell: the product of the number of starts falling in each axis' third
    per_axis = [np.bincount(np.minimum(np.arange(n) * 3 // n, 2), minlength=3) for n in (31, 25, 31)]
    expected = np.einsum("i,j,k->ijk", *per_axis).reshape(-1) / (31 * 25 * 31) * len(starts)
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    again = [sampler.locate(5, 0, i, source, False) for i in range(20)]
    assert again == [tuple(s) for s in starts[:20].tolist()]  # a function of (seed, epoch, index) only
    assert [sampler.locate(5, 1, i, source, False) for i in range(20)] != again


def test_loader_locations_are_uniform() -> None:
    ds = LazyVolumes([(25, 25, 25)])
    loader = _loader(ds, fm.RandomPatchSampler((6, 6, 6)), k=800, batch_size=100)  # starts 0..19 per axis
    starts = np.concatenate([b["location"][:, :3].numpy() for b in loader])
    assert len(starts) == 800 and starts.min() == 0 and starts.max() == 19
    counts = np.bincount(((starts // 10) * [4, 2, 1]).sum(axis=1), minlength=8)
    assert stats.chisquare(counts).pvalue > 1e-3
    assert ds.image_reads() == [1]


def test_forced_patch_holds_the_drawn_voxel() -> None:
    ds = LazyVolumes([(30, 30, 30)], blobs=2)
    full = ds.labels[0].array
    sampler = fm.LabelPatchSampler((6, 6, 6), 1.0)
    seen = set()
    for i in range(60):
        src = PatchSource(full.shape, ds.foreground(0), ds.labels[0])
        start = np.asarray(sampler.locate(3, 0, i, src, True))
        patch = full[tuple(slice(a, a + 6) for a in start)]
        assert patch.any()
        seen |= set(np.unique(patch[patch > 0]).tolist())
    assert seen == {1, 2}  # both label values get drawn
    only = fm.LabelPatchSampler((6, 6, 6), 1.0, labels=(2,))
    for i in range(20):
        start = only.locate(3, 0, i, PatchSource(full.shape, ds.foreground(0), ds.labels[0]), True)
        assert (full[tuple(slice(a, a + 6) for a in start)] == 2).any()


def test_bad_sampler_arguments() -> None:
    with pytest.raises(fm.TransformError, match="size"):
        fm.RandomPatchSampler((8, 0, 8))
    with pytest.raises(fm.TransformError, match="pad_mode"):
        fm.RandomPatchSampler((8, 8, 8), pad_mode="wrap")
    with pytest.raises(fm.TransformError, match="foreground_prob"):
        fm.LabelPatchSampler((8, 8, 8), 1.5)
    with pytest.raises(fm.LoaderError, match="patch_sampler"):
        fm.DataLoader(LazyVolumes(SHAPES[:2]), patch_sampler=object())


# ---- through the loader -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_patches_equal_the_volume_cropped_at_location(mode: str) -> None:
    ds = LazyVolumes([(10, 30, 12), (16, 9, 20)])  # smaller than the patch along some axes: padded
    sampler = fm.RandomPatchSampler((12, 12, 12), pad_mode=mode, pad_value=-7.0)
    for batch in _loader(ds, sampler, k=3, batch_size=2, fast=True):
        for b, vid in enumerate(batch["id"]):
            v = int(vid[1:])
            loc = batch["location"][b].tolist()
            want = _crop(ds.images[v].array.astype(np.float32), loc, mode, -7.0)
            np.testing.assert_array_equal(batch["image"][b, 0].numpy(), want)
            want_label = _crop(ds.labels[v].array, loc, "constant", 0)  # labels pad with label_pad_value
            np.testing.assert_array_equal(batch["label"][b, 0].numpy(), want_label)


@pytest.mark.parametrize("summaries", [True, False])
def test_the_last_round_bp_samples_of_every_batch_hold_foreground(summaries: bool) -> None:
    ds = LazyVolumes([(40, 40, 40)] * 6, blobs=1, summaries=summaries)
    p, batch_size = 0.5, 4
    loader = _loader(ds, fm.LabelPatchSampler((6, 6, 6), p), k=3, batch_size=batch_size)
    fractions, total = [], 0
    for batch in loader:
        n = len(batch["id"])
        forced = math.floor(n * p + 0.5)
        has = []
        for b, vid in enumerate(batch["id"]):
            v = int(vid[1:])
            patch = _crop(ds.labels[v].array, batch["location"][b].tolist())
            np.testing.assert_array_equal(batch["label"][b, 0].numpy(), patch)
            has.append(bool(patch.any()))
        assert all(has[n - forced :]), f"a forced patch without foreground: {has}"
        fractions.append(sum(has[n - forced :]) / n)
        total += n
    assert total == 6 * 3 == len(loader.dataset) * 3
    assert all(f == math.floor(batch_size * p + 0.5) / batch_size for f in fractions[:-1])
    # the random patches of a sparse label rarely hold foreground: the fraction is the requested one
    random_hits = []
    for batch in _loader(ds, fm.LabelPatchSampler((6, 6, 6), 0.0), k=3, batch_size=batch_size):
        for b, vid in enumerate(batch["id"]):
            random_hits.append(bool(_crop(ds.labels[int(vid[1:])].array, batch["location"][b].tolist()).any()))
    assert np.mean(random_hits) < 0.25


def test_volumes_without_foreground_fall_back_to_random() -> None:
    ds = LazyVolumes(SHAPES[:4], blobs=[0, 1, 0, 1])
    got = list(_loader(ds, fm.LabelPatchSampler((8, 8, 8), 1.0), k=2, batch_size=2))
    assert sum(len(b["id"]) for b in got) == 8
    for batch in got:
        for b, vid in enumerate(batch["id"]):
            v = int(vid[1:])
            if v in (1, 3):
                assert _crop(ds.labels[v].array, batch["location"][b].tolist()).any()


@pytest.mark.parametrize("k", [1, 3])
def test_fast_and_generic_paths_agree_for_any_workers(k: int) -> None:
    aug = fm.Compose([fm.RandomFlip(), fm.RandomAffine(degrees=10), fm.RandomGaussianNoise(std=(0.0, 5.0))])
    sampler = fm.LabelPatchSampler((10, 12, 8), 0.5)

    def run(fast: bool, workers: int) -> list[Any]:
        loader = _loader(LazyVolumes(SHAPES), sampler, k=k, transform=aug, fast=fast, num_workers=workers)
        out = list(loader) + list(loader)
        assert isinstance(iter(loader).inner, FastIterator) == fast
        return out

    want = run(False, 0)
    assert len(want) == 2 * math.ceil(len(SHAPES) * k / 4)
    for fast, workers in [(False, 2), (True, 0), (True, 1), (True, 2)]:
        got = run(fast, workers)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert to_py(g) == to_py(w), (fast, workers)


@pytest.mark.parametrize("workers", [0, 2])
def test_samples_per_volume_reads_each_volume_once_per_group(workers: int) -> None:
    ds = LazyVolumes(SHAPES)
    k = 4
    loader = _loader(ds, fm.RandomPatchSampler((8, 8, 8)), k=k, batch_size=2, num_workers=workers)
    assert len(loader) == math.ceil(len(SHAPES) * k / 2)
    for epoch in range(2):
        batches = list(loader)
        ids = [v for b in batches for v in b["id"]]
        assert sorted(ids) == sorted([f"v{i}" for i in range(len(SHAPES))] * k)
        assert any(len(set(b["id"])) > 1 for b in batches)  # patches of different volumes share batches
        assert ds.image_reads() == [epoch + 1] * len(SHAPES)
        assert [len(v.reads) for v in ds.labels] == [epoch + 1] * len(SHAPES)
        # the one read is the union of the k patch boxes (plus the linear taps' one voxel), not the volume
        boxes: dict[int, list[list[int]]] = {}
        for b in batches:
            for i, vid in enumerate(b["id"]):
                boxes.setdefault(int(vid[1:]), []).append(b["location"][i].tolist())
        for v, locs in boxes.items():
            lo, hi = ds.images[v].reads[-1]
            shape = ds.images[v].shape
            want_lo = np.min([loc[:3] for loc in locs], axis=0)
            want_hi = np.max([loc[3:] for loc in locs], axis=0)
            assert list(lo) == want_lo.tolist()
            assert (np.asarray(hi) >= want_hi).all() and (np.asarray(hi) <= np.minimum(want_hi + 1, shape)).all()


def test_samples_per_volume_without_a_sampler_gives_k_augmentations() -> None:
    ds = LazyVolumes(SHAPES[:3])
    aug = fm.Compose([fm.RandomCrop((8, 8, 8))])
    batches = list(fm.DataLoader(ds, batch_size=3, seed=2, transform=aug, samples_per_volume=3))
    assert sum(len(b["id"]) for b in batches) == 9 and "location" not in batches[0]
    assert ds.image_reads() == [1, 1, 1]
    per_volume: dict[str, list[torch.Tensor]] = {}
    for b in batches:
        for i, vid in enumerate(b["id"]):
            per_volume.setdefault(vid, []).append(b["image"][i])
    for patches in per_volume.values():  # k draws of RandomCrop: k different patches
        assert len(patches) == 3 and not all(torch.equal(patches[0], q) for q in patches[1:])


def test_order_is_a_function_of_seed_and_epoch() -> None:
    order = PatchOrder(7, 3, seed=4, shuffle=True, batch_size=2)
    first = order.indices(0)
    assert sorted(first) == list(range(21)) and first == PatchOrder(7, 3, 4, True, batch_size=2).indices(0)
    assert order.indices(1) != first
    vols = order.volume_order(0)
    for g0 in range(0, 7, 2):  # each group of 2 volumes gives its 6 patches together
        group = {v * 3 + j for v in vols[g0 : g0 + 2] for j in range(3)}
        assert set(first[g0 * 3 : g0 * 3 + len(group)]) == group
    assert PatchOrder(7, 3, 4, False, batch_size=2).indices(0) == list(range(21))
    shards = [PatchOrder(8, 2, 4, True, rank=r, world_size=2, batch_size=2).indices(3) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == list(range(16))


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("stop", [1, 4])
def test_resume_mid_epoch(fast: bool, workers: int, stop: int) -> None:
    aug = fm.Compose([fm.RandomFlip(), fm.RandomGaussianNoise(std=(0.0, 5.0))])

    def make() -> fm.DataLoader:
        return _loader(LazyVolumes(SHAPES), fm.LabelPatchSampler((8, 8, 8), 0.5), k=3, batch_size=2,
                       transform=aug, num_workers=workers, fast=fast)  # fmt: skip

    full = list(make())
    first = make()
    it = iter(first)
    head = [next(it) for _ in range(stop)]
    second = make()
    second.load_state_dict(first.state_dict())
    rest = list(second)
    assert len(head) + len(rest) == len(full)
    for g, w in zip(head + rest, full, strict=True):
        assert to_py(g) == to_py(w)


def test_patch_larger_than_the_volume_without_padding_names_the_sample() -> None:
    ds = LazyVolumes([(20, 20, 20), (10, 30, 30), (20, 20, 20)])
    sampler = fm.RandomPatchSampler((12, 12, 12), pad_mode=None)
    with pytest.raises(fm.LoaderError, match=r"sample [2-3] .*larger than volume 1") as err:
        list(_loader(ds, sampler, k=2, batch_size=2, shuffle=False))
    assert err.value.index in (2, 3)
    skipping = _loader(ds, sampler, k=2, batch_size=2, on_error="skip")
    assert sum(len(b["id"]) for b in skipping) == 4
    assert sorted(e.index for e in skipping.errors) == [2, 3]


def test_unsupported_combinations() -> None:
    sampler = fm.RandomPatchSampler((4, 4, 4))
    with pytest.raises(LoaderUnsupportedError, match="iterable"):
        fm.DataLoader(RangeIterable(4), patch_sampler=sampler)
    with pytest.raises(LoaderUnsupportedError, match="sampler="):
        fm.DataLoader(LazyVolumes(SHAPES[:2]), sampler=[0, 1], patch_sampler=sampler)
    with pytest.raises(LoaderUnsupportedError, match="Compose"):
        fm.DataLoader(LazyVolumes(SHAPES[:2]), transform=lambda s: s, samples_per_volume=2)


def test_2d_patches_and_a_pickled_pipeline() -> None:
    ds = LazyVolumes([(30, 40), (24, 20), (40, 28)], blobs=2)
    sampler = fm.LabelPatchSampler((16, 16), 0.5, pad_mode="edge")
    aug = fm.Compose([fm.RandomFlip()])

    def run(fast: bool, workers: int) -> list[Any]:
        return list(_loader(ds, sampler, k=2, batch_size=2, transform=aug, fast=fast, num_workers=workers))

    want = run(False, 0)
    for got in (run(True, 2), run(False, 2)):
        assert [to_py(g) for g in got] == [to_py(w) for w in want]
    plain = _loader(ds, sampler, k=2, batch_size=2)
    for batch in plain:
        assert batch["image"].shape[1:] == (1, 16, 16)
        for b, vid in enumerate(batch["id"]):
            want_image = _crop(ds.images[int(vid[1:])].array.astype(np.float32), batch["location"][b].tolist(), "edge")
            np.testing.assert_array_equal(batch["image"][b, 0].numpy(), want_image)
    compose = plain.transform
    clone = pickle.loads(pickle.dumps(compose))
    item = ds[1]
    a, b = compose(item, seed=3, index=2, epoch=1), clone(item, seed=3, index=2, epoch=1)
    assert to_py({k: a[k] for k in ("image", "label", "location")}) == to_py(
        {k: b[k] for k in ("image", "label", "location")}
    )
