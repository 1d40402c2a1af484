"""The recipes' training batches (MAE: crop, normalisation, keyed mask) do not depend on the loader's threads.

With ``num_workers=2`` the fast path prefetches in threads and starts each next epoch's first batches before the
current epoch ends; ``num_workers=0`` makes every batch inline in ``next()`` (no threads, no look-ahead). Over
several epochs, as the recipes' endless feed runs them, the two must give the same batches bit for bit.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from fastmed.store.dataset import VolumeDataset
from fastmed.train.models.config import get_config
from fastmed.train.recipes import DataConfig
from fastmed.train.recipes.data import TaskItems, endless, make_loader, split_by_study, train_compose


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _copy(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.clone()
    return type(v)(_copy(x) for x in v) if isinstance(v, list | tuple) else v


def _feed(store: Path, workers: int, batches: int) -> list[dict[str, Any]]:
    vit = get_config("vit3d_tiny").with_(img_size=(24, 32, 32))
    ds = VolumeDataset(store)
    split = split_by_study(ds, 3, 0.25, 0, stratify="lesion_present")
    items = TaskItems(ds, split.train, [list(ds.label_names).index("lesion_present")])
    cfg = replace(DataConfig(store=str(store)), batch_size=2, num_workers=workers)
    loader = make_loader(items, train_compose(vit.img_size, vit.grid, 0.75, False), cfg, 0, True)
    feed = endless(loader)
    try:  # copies: the loader reuses its batch tensors
        return [{k: _copy(v) for k, v in b.items()} for b in itertools.islice(feed, batches)]
    finally:
        feed.close()


def test_mae_batches_equal_with_threads_and_lookahead(recipe_store: Path) -> None:
    inline = _feed(recipe_store, 0, 14)
    threaded = _feed(recipe_store, 2, 14)
    assert len(inline) == len(threaded) == 14  # several epochs of the 12-study store's training split
    for a, b in zip(inline, threaded, strict=True):
        assert list(a) == list(b)
        for k in a:
            assert _same(a[k], b[k]), k
