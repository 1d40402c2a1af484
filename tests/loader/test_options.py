"""fastmed's own keyword arguments: validation, device, transform kinds, sharding from torch.distributed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import SequentialSampler

import fastmed as fm
from tests.loader._datasets import IndexDataset, RangeIterable


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"on_error": "ignore"}, "on_error"),
        ({"device": "gpu"}, "device"),
        ({"device": "cuda:x"}, "device"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"transform": 3}, "transform"),
        ({"samples_per_volume": 0}, "samples_per_volume"),
        ({"rank": 0}, "together"),
        ({"rank": 2, "world_size": 2}, "rank"),
        ({"rank": 0, "world_size": 0}, "world_size"),
        ({"rank": 0, "world_size": 2, "sampler": SequentialSampler(range(4))}, "shard"),
        ({"max_worker_restarts": -1}, "max_worker_restarts"),
    ],
)
def test_bad_fastmed_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(fm.LoaderError, match=match):
        fm.DataLoader(IndexDataset(4), **kwargs)


def test_sharding_an_iterable_is_refused() -> None:
    with pytest.raises(fm.LoaderError, match="shard"):
        fm.DataLoader(RangeIterable(4), rank=0, world_size=2)


def test_samples_per_volume_counts_samples_and_refuses_a_non_sampler() -> None:
    loader = fm.DataLoader(IndexDataset(4), batch_size=3, samples_per_volume=4, seed=0)
    assert len(loader) == 6 and sum(len(b["i"]) for b in loader) == 16
    with pytest.raises(fm.LoaderError, match="patch_sampler"):
        fm.DataLoader(IndexDataset(4), patch_sampler=object())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_device_without_cuda() -> None:
    with pytest.raises(fm.LoaderError, match="no CUDA device"):
        fm.DataLoader(IndexDataset(4), device="cuda")


def test_cpu_device() -> None:
    batches = list(fm.DataLoader(IndexDataset(4), batch_size=2, device="cpu"))
    assert all(b["image"].device.type == "cpu" for b in batches)


def test_plain_transform_gets_the_sample_only() -> None:
    def plus_one(sample: dict) -> dict:
        return {"i": sample["i"] + 1}

    assert [int(b["i"]) for b in fm.DataLoader(IndexDataset(3), transform=plus_one)] == [1, 2, 3]


def test_transform_on_an_iterable_dataset() -> None:
    def keyed(sample: dict, seed: int, index: int, epoch: int) -> dict:
        return {"i": sample["i"], "key": (seed, epoch, index)}

    got = list(fm.DataLoader(RangeIterable(3), batch_size=None, transform=keyed, seed=4))
    assert [tuple(int(v) for v in b["key"]) for b in got] == [(4, 0, 0), (4, 0, 1), (4, 0, 2)]


def test_shards_from_an_initialized_process_group(tmp_path: Path) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        loader = fm.DataLoader(IndexDataset(5), batch_size=2, shuffle=True)
        assert (loader.options.rank, loader.options.world_size) == (0, 1)
        assert sorted(int(i) for b in loader for i in b["i"]) == list(range(5))
    finally:
        dist.destroy_process_group()


def test_shard_follows_torch_distributed_rank_and_world_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch.utils.data.distributed import DistributedSampler

    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda group=None: 1)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: 3)
    ds = IndexDataset(7)
    loader = fm.DataLoader(ds, batch_size=None, shuffle=True, seed=2)
    assert [int(b["i"]) for b in loader] == list(DistributedSampler(ds, num_replicas=3, rank=1, seed=2))
