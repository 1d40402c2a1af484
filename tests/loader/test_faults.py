"""Faults: failing samples (raise / skip), a SIGKILLed worker, a hanging worker, flat memory."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest

import fastmed as fm
from tests.loader._datasets import (
    BigDataset,
    FailingDataset,
    HangOnce,
    IndexDataset,
    KeyedNoise,
    KillIterable,
    KillOnce,
    indices,
    to_py,
)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_raise_names_the_sample_and_the_cause(num_workers: int) -> None:
    loader = fm.DataLoader(FailingDataset(12, bad=(5,)), batch_size=4, num_workers=num_workers)
    with pytest.raises(fm.LoaderError) as err:
        list(loader)
    assert err.value.index == 5 and err.value.epoch == 0
    assert "sample 5" in str(err.value) and "ValueError: broken sample number 5" in str(err.value)
    if num_workers == 0:
        assert isinstance(err.value.__cause__, ValueError)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_skip_records_and_loses_nothing_else(num_workers: int) -> None:
    bad = (3, 7, 8)
    loader = fm.DataLoader(
        FailingDataset(14, bad=bad), batch_size=4, shuffle=True, seed=1, num_workers=num_workers, on_error="skip"
    )
    got = indices(list(loader))
    assert sorted(got) == [i for i in range(14) if i not in bad]
    assert sorted(e.index for e in loader.errors) == list(bad)
    assert all("ValueError" in e.reason and e.epoch == 0 for e in loader.errors)
    assert loader.stats.skipped == 3 and loader.stats.samples == 11


def test_skip_keeps_the_order_and_augmentation_of_the_rest() -> None:
    kwargs = {"batch_size": 3, "shuffle": True, "seed": 4, "transform": KeyedNoise()}
    clean = {int(s["i"]): to_py(s["image"]) for b in fm.DataLoader(IndexDataset(10), **kwargs) for s in _split(b)}
    skipped = fm.DataLoader(FailingDataset(10, bad=(2,)), on_error="skip", **kwargs)
    for b in skipped:
        for s in _split(b):
            assert to_py(s["image"]) == clean[int(s["i"])]


def _split(batch: dict) -> list[dict]:
    return [{"i": i, "image": img} for i, img in zip(batch["i"], batch["image"], strict=True)]


def test_collate_failure_is_reported_per_sample() -> None:
    def bad_collate(batch: list) -> None:
        raise TypeError("cannot stack")

    with pytest.raises(fm.LoaderError, match="collate_fn: TypeError: cannot stack"):
        list(fm.DataLoader(IndexDataset(4), batch_size=2, collate_fn=bad_collate))
    loader = fm.DataLoader(IndexDataset(4), batch_size=2, collate_fn=bad_collate, on_error="skip")
    assert list(loader) == []
    assert sorted(e.index for e in loader.errors) == [0, 1, 2, 3]


@pytest.mark.parametrize(("persistent", "busy_s"), [(False, 0.0), (True, 0.1)])
def test_killed_worker_is_replaced_without_loss_or_duplicate(tmp_path: Path, persistent: bool, busy_s: float) -> None:
    # busy_s > 0: the worker dies while the consumer is busy (outside next()), where torch's SIGCHLD
    # handler would raise into the consumer's code
    ds = KillOnce(24, index=9, marker=str(tmp_path / "killed"))
    loader = fm.DataLoader(
        ds, batch_size=2, shuffle=True, seed=3, num_workers=2, persistent_workers=persistent, transform=KeyedNoise()
    )
    got = []
    for b in loader:
        got.append(to_py(b))
        time.sleep(busy_s)
    assert (tmp_path / "killed").exists()
    assert loader.stats.worker_restarts == 1
    reference = fm.DataLoader(IndexDataset(24), batch_size=2, shuffle=True, seed=3, transform=KeyedNoise())
    assert got == [to_py(b) for b in reference]
    assert [to_py(b) for b in loader] == [to_py(b) for b in reference]  # the next epoch runs on new workers


def test_killed_worker_of_an_iterable_dataset_is_reported() -> None:
    loader = fm.DataLoader(KillIterable(12), batch_size=2, num_workers=2)
    with pytest.raises(fm.LoaderError, match="worker process died"):
        list(loader)


def test_hanging_worker_hits_timeout(tmp_path: Path) -> None:
    ds = HangOnce(8, index=3, marker=str(tmp_path / "hung"), seconds=3.0)
    loader = fm.DataLoader(ds, batch_size=2, num_workers=1, timeout=0.5)
    with pytest.raises(fm.LoaderError, match=r"timeout=0.5 s.*batch 1 of epoch 0 \(samples \[2, 3\]\)"):
        list(loader)


def _rss() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_rss_stays_flat_over_epochs() -> None:
    loader = fm.DataLoader(BigDataset(), batch_size=8, shuffle=True, seed=0, num_workers=2, persistent_workers=True)
    sizes = []
    for _ in range(7):
        for _batch in loader:
            pass
        gc.collect()
        sizes.append(_rss())
    growth = max(sizes[2:]) - sizes[1]
    assert growth < 4 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB over epochs 2..7: {sizes}"


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batched_getitems_failure_is_isolated_to_its_sample(num_workers: int) -> None:
    from tests.loader._datasets import BatchedDataset

    loader = fm.DataLoader(BatchedDataset(9, bad=(4,)), batch_size=3, num_workers=num_workers, on_error="skip")
    assert indices(list(loader)) == [0, 1, 2, 3, 5, 6, 7, 8]
    assert [e.index for e in loader.errors] == [4]
