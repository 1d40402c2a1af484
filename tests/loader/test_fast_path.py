"""The loader's fast path (one ``Compose.batch`` per batch, in threads) against its worker path as the oracle.

The dataset is a manifest ``VolumeDataset`` of a synthetic archive (lazy handles, as from a
store): the fast path must give the worker path's batches bit for bit, for any thread
count, after a resume, and with a failing sample skipped; batch tensors come from a reused
ring and are written in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

import fastmed as fm
from fastmed.loader import DataLoader
from fastmed.loader.batch_ring import Ring
from fastmed.loader.fast import FastIterator
from fastmed.store.dataset import VolumeDataset
from fastmed.synth import generate_archive
from tests.store.conftest import truth_annotations


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> Subset[Any]:
    archive = generate_archive(tmp_path_factory.mktemp("fast") / "archive", 4, 2)
    manifest = fm.index(archive.root, cache=False)
    ds = VolumeDataset(manifest, annotations=truth_annotations(archive))
    return Subset(ds, [i for i in range(len(ds)) if ds[i]["image"].ndim == 3])  # type: ignore[arg-type]


def _aug() -> fm.Compose:
    return fm.Compose([fm.RandomCrop((8, 16, 16)), fm.RandomFlip()], label_keys=("label",))


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, Sequence) and not isinstance(a, str):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _batches(ds: Any, fast: bool, epochs: int = 2, **kw: Any) -> list[Any]:
    loader = DataLoader(ds, batch_size=2, shuffle=True, seed=7, transform=_aug(), fast=fast, **kw)
    out = []
    for _ in range(epochs):
        out.extend(list(loader))
    return out


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_fast_path_equals_worker_path(volumes: Subset[Any], workers: int) -> None:
    want = _batches(volumes, fast=False)
    loader = DataLoader(volumes, batch_size=2, shuffle=True, seed=7, transform=_aug(), num_workers=workers)
    got = list(loader) + list(loader)  # batches kept by the consumer: their ring slots are not reused
    assert len(got) == len(want) == 2 * len(loader)
    for g, w in zip(got, want, strict=True):
        assert g["image"].shape == (2, 1, 8, 16, 16)
        assert _equal(g, w)
    stats = loader.stats
    assert stats.batches == len(loader) and stats.samples == len(volumes)
    assert stats.bytes > 0 and stats.samples_per_s > 0
    assert isinstance(iter(loader).inner, FastIterator), "the automatic choice did not take the fast path"


def test_batches_are_written_into_a_reused_ring(volumes: Subset[Any]) -> None:
    loader = DataLoader(volumes, batch_size=2, transform=_aug(), seed=1, fast=True, drop_last=True)
    ptrs = []
    for _ in range(3):
        for batch in loader:
            ptrs.append(batch["image"].data_ptr())
    ring: Ring = getattr(loader, "_fast_ring")  # noqa: B009  (set by the fast path)
    assert ring.size == 2  # num_workers=0: no prefetch, the batch in hand plus one
    slots = {s["image"].data_ptr() for s in ring.slots}
    assert set(ptrs) == slots  # every batch tensor is a ring slot: written in place, never stacked
    assert ring.allocations == ring.size * len(ring.slots[0])  # allocated once per slot and key


def test_dropping_a_batch_frees_no_tensor_in_the_consumer(volumes: Subset[Any]) -> None:
    """A dropped batch's collated extras live on in the ring until its slot's next batch (freed in the loader).

    Freeing a tensor may hand the GIL to a loader thread in the middle of ``next()``; the ring frees them
    one round later, where the batch is made. Oracle: weak references to the extras' tensors.
    """
    import gc
    import weakref

    loader = DataLoader(volumes, batch_size=2, transform=_aug(), seed=1, fast=True, drop_last=True)
    it = iter(loader)
    first = next(it)
    ring: Ring = getattr(loader, "_fast_ring")  # noqa: B009  (set by the fast path)
    assert ring.spec is not None
    extras = [weakref.ref(v) for k, v in first.items() if k not in ring.spec and isinstance(v, torch.Tensor)]
    assert extras, "the batch has no collated tensor besides the ring's"
    del first
    gc.collect()
    assert all(r() is not None for r in extras)  # the consumer's drop freed nothing
    for _ in range(ring.size):  # every slot gets its next batch: the first batch's extras go
        next(it)
    gc.collect()
    assert all(r() is None for r in extras)


@pytest.mark.parametrize("resume_fast", [True, False])
def test_resume_mid_epoch(volumes: Subset[Any], resume_fast: bool) -> None:
    def make(fast: bool = True) -> DataLoader:
        return DataLoader(volumes, batch_size=2, shuffle=True, seed=3, transform=_aug(), num_workers=2, fast=fast)

    full: list[Any] = list(make())
    first = make()
    it = iter(first)
    head = [next(it) for _ in range(1)]
    state = first.state_dict()
    second = make(resume_fast)  # a fast-path state resumes on either path
    second.load_state_dict(state)
    rest: list[Any] = list(second)
    assert len(head) + len(rest) == len(full)
    for g, w in zip(head + rest, full, strict=True):
        assert _equal(g, w)


class _Broken:
    """A lazy volume whose reads fail (stands for a corrupt chunk)."""

    def __init__(self, vol: Any):
        self.shape, self.dtype, self.spacing, self.stats = vol.shape, vol.dtype, vol.spacing, vol.stats

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> np.ndarray:
        raise OSError("chunk checksum mismatch")


class _WithBroken:
    def __init__(self, ds: Any, bad: int):
        self.ds, self.bad = ds, bad

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, index: int) -> Any:
        item = dict(self.ds[index])
        if index == self.bad:
            item["image"] = _Broken(item["image"])
        return item


@pytest.mark.parametrize("workers", [0, 2])
def test_skip_a_failing_sample(volumes: Subset[Any], workers: int) -> None:
    ds = _WithBroken(volumes, 2)
    want_loader = DataLoader(ds, batch_size=2, shuffle=True, seed=7, transform=_aug(), fast=False, on_error="skip")
    want = list(want_loader)
    loader = DataLoader(ds, batch_size=2, shuffle=True, seed=7, transform=_aug(), num_workers=workers, on_error="skip")
    got = list(loader)
    assert loader.stats.skipped == 1
    assert isinstance(iter(loader).inner, FastIterator)
    assert [len(b["id"]) for b in got] == [len(b["id"]) for b in want] and sum(len(b["id"]) for b in got) == len(ds) - 1
    for g, w in zip(got, want, strict=True):
        assert _equal(g, w)
    assert loader.errors == want_loader.errors and [e.index for e in loader.errors] == [2]
    assert "chunk checksum mismatch" in loader.errors[0].reason


def test_raise_names_the_sample(volumes: Subset[Any]) -> None:
    loader = DataLoader(_WithBroken(volumes, 1), batch_size=2, transform=_aug(), fast=True, num_workers=1)
    with pytest.raises(fm.LoaderError, match="chunk checksum mismatch"):
        list(loader)


def test_choice_of_path(volumes: Subset[Any]) -> None:
    def inner(**kw: Any) -> Any:
        return iter(DataLoader(volumes, batch_size=2, **kw)).inner

    assert isinstance(inner(transform=_aug()), FastIterator)
    assert not isinstance(inner(transform=_aug(), fast=False), FastIterator)
    assert not isinstance(inner(transform=_aug(), collate_fn=lambda b: b), FastIterator)
    with pytest.raises(fm.LoaderError, match="fast=True"):
        DataLoader(volumes, batch_size=2, transform=lambda s: s, fast=True)


def test_pin_memory_and_device_cpu(volumes: Subset[Any]) -> None:
    kw: dict[str, Any] = {"batch_size": 2, "seed": 4, "transform": _aug()}
    want = list(DataLoader(volumes, fast=False, **kw))
    loader = DataLoader(volumes, num_workers=1, pin_memory=True, device="cpu", **kw)
    got = list(loader)
    assert isinstance(iter(loader).inner, FastIterator)
    for g, w in zip(got, want, strict=True):
        assert _equal(g, w)
        assert g["image"].is_pinned() == torch.cuda.is_available()
