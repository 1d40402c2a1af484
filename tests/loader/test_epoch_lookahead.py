"""The fast path's look-ahead across epoch boundaries: the next epoch's first batches are started before the
current epoch ends, and adopted only where the next plan issues the same keys.

Oracle: the same loader arguments with ``num_workers=0`` (each batch made inline in ``next()``, no threads, no
look-ahead) and the worker path (``fast=False``); the batches must be equal bit for bit, epoch after epoch, also
when the next ``iter()`` is not the forecast one (``set_epoch`` to another epoch, a resume).
"""

from __future__ import annotations

from typing import Any

import pytest
from torch.utils.data import Subset

from fastmed.loader import DataLoader
from fastmed.loader.fast import Carry, FastIterator
from tests.loader.test_fast_path import _aug, _equal, volumes  # noqa: F401  (the module fixture)


def _make(ds: Any, workers: int, fast: bool = True, seed: int = 5) -> DataLoader:
    return DataLoader(
        ds, batch_size=2, shuffle=True, drop_last=True, seed=seed, transform=_aug(), num_workers=workers, fast=fast
    )


def _epochs(loader: DataLoader, epochs: list[int | None]) -> list[Any]:
    """Batches of successive epochs (``None``: the loader's own next epoch; a number: ``set_epoch`` first)."""
    out: list[Any] = []
    for e in epochs:
        if e is not None:
            loader.set_epoch(e)
        out.extend(list(loader))
    return out


def _same(got: list[Any], want: list[Any]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert _equal(g, w)


@pytest.mark.parametrize("workers", [1, 2])
def test_lookahead_batches_equal_inline_and_worker_path(volumes: Subset[Any], workers: int) -> None:  # noqa: F811
    plan: list[int | None] = [None, None, None]
    want = _epochs(_make(volumes, 0), plan)
    _same(_epochs(_make(volumes, 0, fast=False), plan), want)
    loader = _make(volumes, workers)
    got: list[Any] = []
    adopted = 0
    for _ in plan:
        it = iter(loader)
        inner = it.inner
        assert isinstance(inner, FastIterator)
        adopted += len(inner.pending)  # started in the previous epoch (nothing taken from this one's plan yet)
        got.extend(list(it))
        carry = getattr(loader, "_fast_carry")  # noqa: B009  (set by the fast path at the epoch's end)
        assert isinstance(carry, Carry) and carry.pending, "the next epoch's first batches were not started"
    assert adopted > 0, "no batch started ahead was adopted"
    _same(got, want)


def test_lookahead_discarded_when_the_next_epoch_differs(volumes: Subset[Any]) -> None:  # noqa: F811
    plan: list[int | None] = [None, 4, None, 1]  # set_epoch(4) after epoch 0: the forecast (epoch 1) is wrong
    want = _epochs(_make(volumes, 0), plan)
    _same(_epochs(_make(volumes, 2), plan), want)


def test_lookahead_then_resume_mid_epoch(volumes: Subset[Any]) -> None:  # noqa: F811
    full = _epochs(_make(volumes, 0), [None, None])
    first = _make(volumes, 2)
    head = list(first)  # epoch 0 ends with epoch 1's first batches started
    it = iter(first)
    head.append(next(it))
    state = first.state_dict()
    second = _make(volumes, 2)
    list(second)  # its own look-ahead for epoch 1 (from batch 0) must not survive the resume
    second.load_state_dict(state)
    rest = list(second)
    _same(head + rest, full)


def test_lookahead_not_taken_by_another_transform(volumes: Subset[Any]) -> None:  # noqa: F811
    loader = _make(volumes, 2)
    list(loader)
    loader.transform = _aug()  # a new Compose: the started batches were made by the old one
    it = iter(loader)
    assert isinstance(it.inner, FastIterator) and not it.inner.pending
    _same(list(it), _epochs(_make(volumes, 0), [None, None])[len(loader) :])
