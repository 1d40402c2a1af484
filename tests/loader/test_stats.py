"""loader.stats (checked against what the consumer saw and timed) and the progress bar."""

from __future__ import annotations

import time

import pytest

import fastmed as fm
from fastmed.loader.tree import nbytes
from tests.loader._datasets import IndexDataset, SlowDataset


def test_counts_match_the_batches() -> None:
    loader = fm.DataLoader(IndexDataset(10), batch_size=4, num_workers=2)
    assert loader.stats.batches == 0
    batches = list(loader)
    s = loader.stats
    assert s.batches == len(batches) == 3
    assert s.samples == 10
    assert s.bytes == sum(nbytes(b) for b in batches) == 10 * (4 * 4 * 4 * 4 + 8)
    assert 0.0 <= s.data_wait_fraction <= 1.0
    assert 0.0 < s.latency_p50_ms <= s.latency_p90_ms <= s.latency_p99_ms
    assert s.samples_per_s == pytest.approx(s.samples / s.elapsed_s)
    assert s.skipped == 0 and s.worker_restarts == 0


def test_data_wait_fraction_tells_slow_data_from_slow_consumer() -> None:
    slow_data = fm.DataLoader(SlowDataset(6, seconds=0.02), batch_size=2)
    list(slow_data)
    assert slow_data.stats.data_wait_fraction > 0.8
    slow_consumer = fm.DataLoader(IndexDataset(6), batch_size=2)
    t0 = time.perf_counter()
    for _ in slow_consumer:
        time.sleep(0.05)
    total = time.perf_counter() - t0
    s = slow_consumer.stats
    assert s.data_wait_fraction < 0.3
    assert s.elapsed_s <= total


def test_stats_restart_each_epoch() -> None:
    loader = fm.DataLoader(IndexDataset(5), batch_size=2)
    list(loader)
    it = iter(loader)
    next(it)
    assert loader.stats.batches == 1 and loader.stats.samples == 2


def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    list(fm.DataLoader(IndexDataset(6), batch_size=2, progress=True))
    err = capsys.readouterr().err
    assert "epoch 0" in err and "3/3" in err
