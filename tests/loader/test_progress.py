"""``progress=True`` shows one tqdm bar per epoch on both loader paths, counting the delivered batches.

Oracle: ``len(loader)`` (the bar's total) and the batches the consumer got; a resumed epoch's
bar starts at the batches already delivered.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import fastmed as fm
from tests.loader._datasets import IndexDataset

pytest.importorskip("tqdm")


def _final(err: str, epoch: int) -> str:
    """The last state the bar of ``epoch`` printed (``n/total``)."""
    found = re.findall(rf"epoch {epoch}:[^\r\n]*?(\d+/\d+)", err)
    assert found, err
    return found[-1]


@pytest.mark.parametrize(
    ("num_workers", "fast"),
    [(0, False), (2, False), (0, True), (2, True)],
    ids=["generic-0", "generic-2", "fast-0", "fast-2"],
)
def test_bar_counts_the_batches_on_both_paths(num_workers: int, fast: bool, capsys: pytest.CaptureFixture[str]) -> None:
    aug = fm.Compose([fm.RandomFlip()])
    loader = fm.DataLoader(
        IndexDataset(7), batch_size=2, seed=0, transform=aug, num_workers=num_workers, fast=fast, progress=True
    )
    for epoch in range(2):
        got = list(loader)
        assert len(got) == len(loader) == 4
        assert _final(capsys.readouterr().err, epoch) == "4/4"


def test_bar_of_a_resumed_epoch_starts_at_the_delivered_batches(capsys: pytest.CaptureFixture[str]) -> None:
    def make() -> fm.DataLoader:
        return fm.DataLoader(IndexDataset(9), batch_size=2, shuffle=True, seed=1, progress=True)

    loader = make()
    it = iter(loader)
    first = [next(it) for _ in range(2)]
    state = loader.state_dict()
    capsys.readouterr()
    again = make()
    again.load_state_dict(state)
    rest = list(again)
    err = capsys.readouterr().err
    assert re.search(r"epoch 0:[^\r\n]*?2/5", err), err
    assert _final(err, 0) == "5/5"
    ids = np.concatenate([b["i"].numpy() for b in first + rest])
    assert sorted(ids.tolist()) == list(range(9))


def test_rich_bar(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rich")
    got = list(fm.DataLoader(IndexDataset(6), batch_size=2, progress="rich"))
    assert len(got) == 3
    err = capsys.readouterr()
    out = err.err + err.out
    assert "epoch 0" in out and "3/3" in out


def test_unknown_progress_kind_is_refused() -> None:
    with pytest.raises(fm.LoaderError, match="progress must be one of"):
        fm.DataLoader(IndexDataset(6), progress="bar")
