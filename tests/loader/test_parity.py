"""fastmed.DataLoader against torch.utils.data.DataLoader: batches, order, errors, len(), collate."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler, SubsetRandomSampler
from torch.utils.data import DataLoader as TorchDataLoader

import fastmed as fm
from tests.loader._datasets import MixedDataset, RangeIterable, TaggedDataset, record_worker, to_py


def _run(cls: type, dataset: Any, kwargs: dict[str, Any], seed: int = 7, epochs: int = 1) -> list[Any]:
    """Batches of ``epochs`` epochs, with the global and the loader's RNGs seeded the same way."""
    torch.manual_seed(seed)
    kw = dict(kwargs)
    if kw.pop("gen", False):
        kw["generator"] = torch.Generator().manual_seed(seed + 1)
    for name in ("sampler", "batch_sampler"):
        if callable(kw.get(name)):
            kw[name] = kw[name](dataset)
    loader = cls(dataset, **kw)
    return [[to_py(b) for b in loader] for _ in range(epochs)]


MAP_CASES = [
    {},
    {"batch_size": 4},
    {"batch_size": 4, "shuffle": True},
    {"batch_size": 4, "shuffle": True, "gen": True},
    {"batch_size": 3, "shuffle": True, "drop_last": True, "gen": True},
    {"batch_size": None},
    {"batch_size": None, "shuffle": True, "gen": True},
    {"batch_size": 2, "sampler": lambda ds: SubsetRandomSampler([1, 3, 5, 7, 9], torch.Generator().manual_seed(3))},
    {"batch_sampler": lambda ds: BatchSampler(RandomSampler(ds, generator=torch.Generator().manual_seed(4)), 3, False)},
    {"batch_size": 5, "sampler": lambda ds: RandomSampler(ds, replacement=True, num_samples=7)},
    {"batch_size": 4, "collate_fn": lambda batch: [s["name"] for s in batch]},
]


@pytest.mark.parametrize("case", range(len(MAP_CASES)))
@pytest.mark.parametrize("num_workers", [0, 2])
def test_map_style_same_batches_as_torch(case: int, num_workers: int) -> None:
    kwargs = dict(MAP_CASES[case], num_workers=num_workers)
    ds = MixedDataset(11)
    assert _run(fm.DataLoader, ds, kwargs) == _run(TorchDataLoader, ds, kwargs)
    assert len(fm.DataLoader(ds, **{k: v for k, v in kwargs.items() if k not in ("gen", "sampler", "batch_sampler")}))


@pytest.mark.parametrize("batch_size", [None, 1, 4])
@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("drop_last", [False, True])
def test_iterable_same_batches_as_torch(batch_size: int | None, num_workers: int, drop_last: bool) -> None:
    if batch_size is None and drop_last:
        pytest.skip("torch rejects drop_last without batch_size (tested in test_same_errors)")
    kwargs = {"batch_size": batch_size, "num_workers": num_workers, "drop_last": drop_last, "gen": True}
    ds = RangeIterable(13)
    assert _run(fm.DataLoader, ds, kwargs) == _run(TorchDataLoader, ds, kwargs)
    assert len(fm.DataLoader(ds, batch_size=batch_size, drop_last=drop_last)) == len(
        TorchDataLoader(ds, batch_size=batch_size, drop_last=drop_last)
    )


def test_persistent_workers_two_epochs_like_torch() -> None:
    kwargs = {"batch_size": 3, "shuffle": True, "num_workers": 2, "persistent_workers": True, "gen": True}
    kwargs["prefetch_factor"] = 3
    ds = MixedDataset(10)
    assert _run(fm.DataLoader, ds, kwargs, epochs=2) == _run(TorchDataLoader, ds, kwargs, epochs=2)


@pytest.mark.parametrize("context", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_worker_init_fn_and_worker_info_like_torch(context: str) -> None:
    kwargs = {"batch_size": 2, "num_workers": 2, "worker_init_fn": record_worker, "multiprocessing_context": context}
    ds = TaggedDataset(6)
    ours = _run(fm.DataLoader, ds, kwargs)
    # torch's result does not depend on the start method; fork keeps the spawn case to one set of spawned workers
    assert ours == _run(TorchDataLoader, ds, dict(kwargs, multiprocessing_context="fork"))
    assert {t for b in ours[0] for t in b["tag"][1]} == {"w0", "w1"}


def test_worker_info_shows_the_users_dataset_and_torch_seeds() -> None:
    kwargs = {"batch_size": 3, "num_workers": 2, "gen": True}
    ds = MixedDataset(8)
    ours = _run(fm.DataLoader, ds, kwargs)
    assert ours == _run(TorchDataLoader, ds, kwargs)
    names = {n for b in ours[0] for n in b["wds"][1]}
    assert names == {"MixedDataset"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_workers": -1},
        {"timeout": -1},
        {"prefetch_factor": 2},
        {"num_workers": 1, "prefetch_factor": -1},
        {"persistent_workers": True},
        {"shuffle": True, "sampler": SequentialSampler(range(5))},
        {"batch_size": 2, "batch_sampler": [[0, 1]]},
        {"shuffle": True, "batch_sampler": [[0, 1]]},
        {"drop_last": True, "batch_sampler": [[0, 1]]},
        {"batch_size": None, "drop_last": True},
        {"batch_size": 0},
        {"num_workers": 2, "multiprocessing_context": "nonsense"},
        {"multiprocessing_context": "fork"},
        {"num_workers": 2, "multiprocessing_context": 3},
    ],
)
def test_same_errors_as_torch(kwargs: dict[str, Any]) -> None:
    ds = MixedDataset(5)
    with pytest.raises(Exception) as theirs:
        TorchDataLoader(ds, **kwargs)
    with pytest.raises(type(theirs.value)) as ours:
        fm.DataLoader(ds, **kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("kwargs", [{"shuffle": True}, {"sampler": [0, 1]}, {"batch_sampler": [[0, 1]]}])
def test_same_errors_as_torch_iterable(kwargs: dict[str, Any]) -> None:
    with pytest.raises(Exception) as theirs:
        TorchDataLoader(RangeIterable(4), **kwargs)
    with pytest.raises(type(theirs.value)) as ours:
        fm.DataLoader(RangeIterable(4), **kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("batch_size", [1, 3, 4, 5, 20])
@pytest.mark.parametrize("drop_last", [False, True])
def test_len_like_torch(batch_size: int, drop_last: bool) -> None:
    ds = MixedDataset(12)
    assert len(fm.DataLoader(ds, batch_size=batch_size, drop_last=drop_last)) == len(
        TorchDataLoader(ds, batch_size=batch_size, drop_last=drop_last)
    )
    seeded = fm.DataLoader(ds, batch_size=batch_size, drop_last=drop_last, shuffle=True, seed=1)
    assert len(seeded) == len(TorchDataLoader(ds, batch_size=batch_size, drop_last=drop_last))
    assert len(list(seeded)) == len(seeded)


def test_pin_memory_like_torch() -> None:
    ds = MixedDataset(6)
    kwargs = {"batch_size": 2, "pin_memory": True}
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        expected = _run(TorchDataLoader, ds, kwargs)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        got = _run(fm.DataLoader, ds, kwargs)
    assert got == expected
    assert sorted(str(w.message) for w in ours) == sorted(str(w.message) for w in theirs)


def test_in_order_false_delivers_every_batch_once() -> None:
    ds = MixedDataset(10)
    got = _run(fm.DataLoader, ds, {"batch_size": 2, "num_workers": 2, "in_order": False})[0]
    assert sorted(i for b in got for i in b["i"][3]) == list(range(10))


def test_is_a_torch_dataloader_with_torch_attributes() -> None:
    ds = MixedDataset(5)
    loader = fm.DataLoader(ds, batch_size=2, num_workers=1, timeout=3)
    reference = TorchDataLoader(ds, batch_size=2, num_workers=1, timeout=3)
    assert isinstance(loader, TorchDataLoader)
    for name in ("batch_size", "num_workers", "timeout", "drop_last", "prefetch_factor", "pin_memory", "in_order"):
        assert getattr(loader, name) == getattr(reference, name)
    assert type(loader.sampler) is type(reference.sampler)
    with pytest.raises(ValueError):
        loader.batch_size = 3
