"""state_dict / load_state_dict: a resumed epoch delivers exactly the remaining batches, bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import fastmed as fm
from tests.loader._datasets import IndexDataset, KeyedNoise, RangeIterable, to_py
from tests.loader._resume_config import make_loader, make_patch_loader, run_child


def _take(loader: fm.DataLoader, k: int) -> list[Any]:
    it = iter(loader)
    return [next(it) for _ in range(k)]


@pytest.mark.parametrize("patches", [False, True])
def test_resume_in_a_new_process_bit_for_bit(tmp_path: Path, patches: bool) -> None:
    make = make_patch_loader if patches else make_loader
    reference = make(0)
    full = [to_py(b) for b in reference]
    following = [to_py(b) for b in reference]

    k = 3
    first = make(2)
    head = _take(first, k)
    torch.save(first.state_dict(), tmp_path / "state.pt")
    del first
    args = [str(tmp_path / "state.pt"), str(tmp_path / "out.pt"), "2"] + (["patches"] if patches else [])
    run_child("tests.loader._resume_child", *args)
    out = torch.load(tmp_path / "out.pt", weights_only=False)
    assert [to_py(b) for b in head] + [to_py(b) for b in out["rest"]] == full
    assert [to_py(b) for b in out["next"]] == following
    assert out["state"]["epoch"] == 2


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("k", [0, 1, 4, 8])
def test_resume_in_process(num_workers: int, k: int) -> None:
    full = [to_py(b) for b in make_loader(0)]
    first = make_loader(num_workers)
    head = [to_py(b) for b in _take(first, k)]
    state = first.state_dict()
    second = make_loader(num_workers)
    second.load_state_dict(state)
    assert head + [to_py(b) for b in second] == full


def test_state_between_epochs_points_at_the_next_epoch() -> None:
    loader = make_loader(0)
    list(loader)
    state = loader.state_dict()
    assert state["epoch"] == 1 and state["batches"] == 0
    again = make_loader(0)
    again.load_state_dict(state)
    reference = make_loader(0)
    list(reference)
    assert [to_py(b) for b in again] == [to_py(b) for b in reference]


def test_resume_without_seed_restores_torch_generator() -> None:
    ds = IndexDataset(17)

    def make() -> fm.DataLoader:
        return fm.DataLoader(ds, batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(8))

    full = [to_py(b) for b in make()]
    first = make()
    head = [to_py(b) for b in _take(first, 4)]
    state = first.state_dict()
    second = make()
    list(second)  # move its generator on: the state must bring it back
    second.load_state_dict(state)
    assert head + [to_py(b) for b in second] == full


def test_resume_in_order_false_skips_exactly_what_was_delivered() -> None:
    ds = IndexDataset(20)
    kwargs: dict[str, Any] = {"batch_size": 2, "shuffle": True, "seed": 1, "num_workers": 2, "in_order": False}
    first = fm.DataLoader(ds, **kwargs)
    head = _take(first, 5)
    second = fm.DataLoader(ds, **kwargs)
    second.load_state_dict(first.state_dict())
    seen = [int(i) for b in head + list(second) for i in b["i"]]
    assert sorted(seen) == list(range(20))


def test_resume_iterable_fast_forwards() -> None:
    def make() -> fm.DataLoader:
        return fm.DataLoader(RangeIterable(13), batch_size=2, num_workers=2, seed=3)

    full = [to_py(b)["i"] for b in make()]
    first = make()
    head = [to_py(b)["i"] for b in _take(first, 3)]
    second = make()
    second.load_state_dict(first.state_dict())
    assert head + [to_py(b)["i"] for b in second] == full


def test_state_of_another_configuration_is_refused() -> None:
    state = make_loader(0).state_dict()
    other = fm.DataLoader(IndexDataset(23), batch_size=3, seed=7, transform=KeyedNoise())
    with pytest.raises(fm.LoaderError, match="seed"):
        other.load_state_dict(state)
    with pytest.raises(fm.LoaderError, match="version"):
        other.load_state_dict({"epoch": 0})


def test_resume_keeps_skip_records_and_rank() -> None:
    from tests.loader._datasets import FailingDataset

    def make() -> fm.DataLoader:
        return fm.DataLoader(
            FailingDataset(20, bad=(1, 17)), batch_size=2, shuffle=True, seed=5, rank=1, world_size=2, on_error="skip"
        )

    full = make()
    expected = [to_py(b) for b in full]
    first = make()
    head = [to_py(b) for b in _take(first, 3)]
    second = make()
    second.load_state_dict(first.state_dict())
    assert head + [to_py(b) for b in second] == expected
    assert sorted(e.index for e in second.errors) == sorted(e.index for e in full.errors)
    with pytest.raises(fm.LoaderError, match="rank"):
        fm.DataLoader(FailingDataset(20), batch_size=2, seed=5, rank=0, world_size=2).load_state_dict(
            first.state_dict()
        )
