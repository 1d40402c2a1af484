"""Patch sampling from a real store: its foreground summaries, footprint reads, both loader paths.

Oracles: ``foreground_summary`` of the whole label read back; the full volume read back and
cropped at each batch's ``location``; the generic path for the fast path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

import fastmed as fm
from fastmed.loader.fast import FastIterator
from fastmed.store.stats import foreground_summary
from tests.store.conftest import annotations, archive, cluster2, manifest, store  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def labelled(store: Path) -> Subset[Any]:  # noqa: F811
    ds = fm.VolumeDataset(store)
    keep = [i for i in range(len(ds)) if ds[i]["image"].ndim == 3 and "label" in ds[i]]
    assert len(keep) >= 2
    return Subset(ds, keep)  # type: ignore[arg-type]


def test_foreground_is_the_summary_of_the_label(store: Path, manifest: fm.Manifest) -> None:  # noqa: F811
    ds = fm.VolumeDataset(store)
    for i in range(len(ds)):
        item = ds[i]
        if "label" in item:
            full = item["label"].read()
            stored = full.reshape((1,) * (3 - full.ndim) + full.shape)  # a radiograph is stored (1, y, x)
            assert ds.foreground(i) == foreground_summary(stored)
    assert fm.VolumeDataset(manifest).foreground(0) is None


def test_label_patches_from_the_store(labelled: Subset[Any]) -> None:
    p, batch_size, k = 0.5, 2, 2
    sampler = fm.LabelPatchSampler((6, 12, 12), p)
    aug = fm.Compose([fm.RandomFlip()])

    def run(fast: bool, workers: int) -> list[Any]:
        loader = fm.DataLoader(labelled, batch_size=batch_size, shuffle=True, seed=9, transform=aug, fast=fast,
                               num_workers=workers, patch_sampler=sampler, samples_per_volume=k)  # fmt: skip
        assert isinstance(iter(loader).inner, FastIterator) == fast
        return list(loader)

    want = run(False, 0)
    forced_with_foreground = 0
    assert len(want) == math.ceil(len(labelled) * k / batch_size)
    base = labelled.dataset
    for batch in want:
        n = len(batch["id"])
        for b, sid in enumerate(batch["id"]):
            item = base[base.ids.index(sid)]
            loc = batch["location"][b].tolist()
            box = tuple(slice(max(a, 0), c) for a, c in zip(loc[:3], loc[3:], strict=True))
            full = item["label"].read()
            has_foreground = bool(base.foreground(base.ids.index(sid))["labels"])
            if has_foreground and b >= n - math.floor(n * p + 0.5):
                assert full[box].any(), "a forced patch without foreground"
                forced_with_foreground += 1
            if all(a >= 0 for a in loc[:3]) and all(c <= s for c, s in zip(loc[3:], full.shape, strict=True)):
                flipped = batch["label"][b, 0].numpy()
                assert sorted(np.unique(flipped).tolist()) == sorted(np.unique(full[box]).tolist())
    assert forced_with_foreground > 0
    for fast, workers in [(True, 0), (True, 2)]:
        got = run(fast, workers)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert list(g) == list(w)
            for key in ("image", "label", "location"):
                assert torch.equal(g[key], w[key]), key
