"""``queue_length=``: the patches of ``queue_length`` volumes shuffled together, like TorchIO's Queue.

Oracles: the set of all ``volume * k + j`` (each patch exactly once per epoch, also across
ranks); the volumes' order (EpochOrder's) cut into groups of ``queue_length``; the default
loader (``queue_length=batch_size``); the generic path for the fast path; an
uninterrupted run for a resumed one; the counting volumes for one read per volume.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import fastmed as fm
from fastmed.errors import LoaderError
from fastmed.loader.patch_order import PatchOrder
from tests.loader._datasets import IndexDataset, to_py
from tests.loader._patch_data import LazyVolumes

SHAPES = [(20, 24, 28), (24, 20, 22), (18, 26, 24), (22, 22, 22), (26, 18, 20), (20, 20, 20), (22, 24, 18)]
K = 3


def _loader(queue_length: int | None, **kw: Any) -> fm.DataLoader:
    kw.setdefault("batch_size", 2)
    kw.setdefault("shuffle", True)
    kw.setdefault("seed", 5)
    kw.setdefault("transform", fm.Compose([fm.RandomFlip(), fm.RandomGaussianNoise(std=(0.0, 5.0))]))
    ds = kw.pop("dataset", None) or LazyVolumes(SHAPES)
    return fm.DataLoader(
        ds, patch_sampler=fm.RandomPatchSampler((8, 8, 8)), samples_per_volume=K, queue_length=queue_length, **kw
    )


def _samples(batches: list[Any]) -> list[tuple[str, tuple[int, ...]]]:
    return [(vid, tuple(loc.tolist())) for b in batches for vid, loc in zip(b["id"], b["location"], strict=True)]


@pytest.mark.parametrize("queue", [1, 2, 3, 7, 10])
def test_order_groups_queue_length_volumes_and_covers_every_patch_once(queue: int) -> None:
    order = PatchOrder(len(SHAPES), K, seed=4, shuffle=True, batch_size=2, group=queue)
    for epoch in range(3):
        got = order.indices(epoch)
        assert sorted(got) == list(range(len(SHAPES) * K))
        assert got == PatchOrder(len(SHAPES), K, 4, True, batch_size=2, group=queue).indices(epoch)
        vols = order.volume_order(epoch)
        for g0 in range(0, len(vols), queue):  # each group's patches come together, in any order within
            members = {v * K + j for v in vols[g0 : g0 + queue] for j in range(K)}
            assert set(got[g0 * K : g0 * K + len(members)]) == members
    assert order.indices(0) != order.indices(1)


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_each_patch_once_per_epoch_across_ranks(world_size: int) -> None:
    n = 9
    seen: list[int] = []
    for rank in range(world_size):
        seen += PatchOrder(n, K, 7, True, rank=rank, world_size=world_size, batch_size=2, group=4).indices(2)
    padded = math.ceil(n / world_size) * world_size - n  # EpochOrder repeats volumes to equal shares
    assert set(seen) == set(range(n * K)) and len(seen) == (n + padded) * K


def test_default_is_batch_size_volumes() -> None:
    want = _samples(list(_loader(None)))
    assert _samples(list(_loader(2))) == want
    assert _samples(list(_loader(5))) != want


@pytest.mark.parametrize("queue", [1, 4, 7])
def test_loader_covers_every_patch_once_and_reads_each_volume_once(queue: int) -> None:
    ds = LazyVolumes(SHAPES)
    loader = _loader(queue, dataset=ds, num_workers=0)
    assert len(loader) == math.ceil(len(SHAPES) * K / 2)
    for epoch in range(2):
        batches = list(loader)
        ids = [vid for vid, _ in _samples(batches)]
        assert sorted(ids) == sorted([f"v{i}" for i in range(len(SHAPES))] * K)
        assert ds.image_reads() == [epoch + 1] * len(SHAPES)  # one region read serves a volume's k patches
        # the first queue's batches hold patches of at most `queue` volumes, and all their patches
        first = ids[: queue * K] if queue * K <= len(ids) else ids
        assert len(set(first)) == min(queue, len(SHAPES))


def test_deterministic_per_seed_and_epoch_and_path() -> None:
    want = [to_py(b) for b in _loader(4)] + [to_py(b) for b in _loader(4)]
    loader = _loader(4)
    epochs = [to_py(b) for b in loader] + [to_py(b) for b in loader]
    for fast, workers in [(True, 2), (False, 2)]:
        again = _loader(4, fast=fast, num_workers=workers)
        got = [to_py(b) for b in again] + [to_py(b) for b in again]
        assert got == epochs, (fast, workers)
    assert epochs[: len(want) // 2] == want[: len(want) // 2]
    assert [to_py(b) for b in _loader(4, seed=6)] != epochs[: len(epochs) // 2]


@pytest.mark.parametrize("stop", [1, 5])
def test_resume_mid_epoch(stop: int) -> None:
    full = [to_py(b) for b in _loader(4)]
    first = _loader(4)
    it = iter(first)
    head = [to_py(next(it)) for _ in range(stop)]
    second = _loader(4)
    second.load_state_dict(first.state_dict())
    assert head + [to_py(b) for b in second] == full


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "4"])
def test_bad_queue_length(bad: Any) -> None:
    with pytest.raises(LoaderError, match="queue_length"):
        _loader(bad)


def test_queue_length_needs_patches() -> None:
    with pytest.raises(LoaderError, match="samples_per_volume"):
        fm.DataLoader(IndexDataset(4), batch_size=2, queue_length=2)
