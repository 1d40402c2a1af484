"""Seeded order and keyed augmentation: functions of (seed, epoch[, index]), not of workers or ranks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from torch.utils.data.distributed import DistributedSampler

import fastmed as fm
from tests.loader._datasets import IndexDataset, KeyedNoise, indices, to_py


def _epoch(loader: fm.DataLoader) -> list[Any]:
    return [to_py(b) for b in loader]


@pytest.mark.parametrize("shuffle", [False, True])
def test_same_batches_for_any_num_workers(shuffle: bool) -> None:
    ds = IndexDataset(14)
    runs = [
        _epoch(fm.DataLoader(ds, batch_size=3, shuffle=shuffle, num_workers=w, seed=11, transform=KeyedNoise()))
        for w in (0, 1, 2)
    ]
    assert runs[0] == runs[1] == runs[2]


def test_order_is_a_function_of_seed_and_epoch() -> None:
    ds = IndexDataset(20)
    loader = fm.DataLoader(ds, batch_size=4, shuffle=True, seed=3, transform=KeyedNoise())
    e0, e1 = _epoch(loader), _epoch(loader)
    assert loader.epoch == 2
    assert indices(list(fm.DataLoader(ds, batch_size=4, shuffle=True, seed=3))) == [
        int(v) for b in e0 for v in b["i"][3]
    ]
    assert e0 != e1
    loader.set_epoch(1)
    assert _epoch(loader) == e1
    other = fm.DataLoader(ds, batch_size=4, shuffle=True, seed=4)
    assert indices(list(other)) != [int(v) for b in e0 for v in b["i"][3]]


def test_augmentation_is_a_function_of_seed_epoch_index() -> None:
    ds = IndexDataset(9)
    noise = KeyedNoise()
    loader = fm.DataLoader(ds, batch_size=None, shuffle=True, seed=5, transform=noise)
    loader.set_epoch(3)
    for sample in loader:
        i = int(sample["i"])
        expected = noise(ds[i], seed=5, index=i, epoch=3)["image"]
        np.testing.assert_array_equal(sample["image"].numpy(), expected)


def test_fastmed_compose_transform_matches_direct_calls() -> None:
    # fastmed kernels run in the main process here (num_workers=0); see the next test for workers
    aug = fm.Compose([fm.RandomFlip(), fm.RandomGaussianNoise(std=(0.1, 0.2))])
    ds = IndexDataset(6, shape=(1, 5, 6, 7))
    batches = list(fm.DataLoader(ds, batch_size=4, seed=9, transform=aug))
    got = np.concatenate([b["image"].numpy() for b in batches])
    expected = np.stack([aug(ds[i], seed=9, index=i, epoch=0)["image"] for i in range(6)])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("context", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_fastmed_compose_transform_in_workers(context: str) -> None:
    # fork relies on the fork-safe native pool (hardening issue, in this branch's base): the parent ran the pool first
    aug = fm.Compose([fm.RandomFlip(), fm.RandomGaussianNoise(std=(0.1, 0.2))])
    ds = IndexDataset(8, shape=(1, 4, 5, 6))
    kwargs: dict[str, Any] = {"batch_size": 3, "shuffle": True, "seed": 2, "transform": aug}
    expected = _epoch(fm.DataLoader(ds, **kwargs))
    assert _epoch(fm.DataLoader(ds, num_workers=2, multiprocessing_context=context, **kwargs)) == expected


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_ranks_share_the_epoch_like_distributed_sampler(world_size: int, shuffle: bool) -> None:
    ds = IndexDataset(10)
    for epoch in (0, 1):
        seen = []
        for rank in range(world_size):
            loader = fm.DataLoader(ds, batch_size=2, shuffle=shuffle, seed=6, rank=rank, world_size=world_size)
            loader.set_epoch(epoch)
            got = indices(list(loader))
            oracle = DistributedSampler(ds, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=6)
            oracle.set_epoch(epoch)
            assert got == list(oracle)
            assert len(loader) == -(-len(oracle) // 2)
            seen += got
        padding = -len(ds) % world_size
        assert sorted(set(seen)) == list(range(len(ds)))
        assert len(seen) == len(ds) + padding


def test_rank_order_does_not_depend_on_workers() -> None:
    ds = IndexDataset(11)
    runs = [
        _epoch(fm.DataLoader(ds, batch_size=2, shuffle=True, seed=1, rank=1, world_size=2, num_workers=w))
        for w in (0, 2)
    ]
    assert runs[0] == runs[1]
