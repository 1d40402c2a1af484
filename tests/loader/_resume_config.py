"""The loader configuration shared by the resume test and its child process."""

from __future__ import annotations

import fastmed as fm
from tests.loader._datasets import IndexDataset, KeyedNoise


def make_loader(num_workers: int) -> fm.DataLoader:
    """A seeded, shuffled loader with a keyed transform over 23 samples, batches of 3."""
    return fm.DataLoader(
        IndexDataset(23), batch_size=3, shuffle=True, seed=42, transform=KeyedNoise(), num_workers=num_workers
    )
