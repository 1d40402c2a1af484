"""Segmentation trains and predicts on the same intensities: per-volume z-scores of the raw series (numpy oracle).

The seg recipe trains on ``fm.LabelPatchSampler`` patches (the Compose then only normalises) and evaluates whole
held-out volumes by sliding windows; both must see ``(v - mean) / std`` with the *whole* series' statistics (not
the patch's), and the mask under the same box. Diagnosis of the segmentation learning test (docs/train.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fastmed.store.dataset import VolumeDataset
from fastmed.train.recipes import DataConfig
from fastmed.train.recipes.data import TaskItems, make_loader, split_by_study, train_compose
from fastmed.train.recipes.evaluate import segment_volumes


def _zscore(vol: np.ndarray) -> np.ndarray:
    v = np.asarray(vol, dtype=np.float64)
    return (v - v.mean()) / v.std()


def test_foreground_patches_are_whole_volume_z_scores_with_their_masks(recipe_store: Path) -> None:
    ds = VolumeDataset(recipe_store)
    split = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present")
    items = TaskItems(ds, split.train, with_mask=True)
    patch = (16, 32, 32)
    cfg = DataConfig(batch_size=4, num_workers=1, foreground_prob=0.5)
    loader = make_loader(items, train_compose(patch, None, 0.75, seg=True), cfg, seed=3, train=True)
    seen = with_lesion = 0
    for batch in loader:
        for pos, k in enumerate(batch["index"].tolist()):
            src = ds[split.train[k]]
            vol, mask = src["image"].read(), src["label"].read()
            lo = [int(v) for v in batch["location"][pos][:3]]
            hi = [int(v) for v in batch["location"][pos][3:]]
            assert [b - a for a, b in zip(lo, hi, strict=True)] == list(patch)
            assert all(a >= 0 for a in lo) and all(b <= n for b, n in zip(hi, vol.shape, strict=True))
            box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
            np.testing.assert_allclose(batch["image"][pos, 0].numpy(), _zscore(vol)[box], rtol=0, atol=1e-4)
            np.testing.assert_array_equal(batch["label"][pos, 0].numpy(), mask[box])
            seen += 1
            with_lesion += bool(mask[box].any())
    assert seen >= 8 and with_lesion > 0  # (lesion-free series get uniform patches)


class _Threshold(torch.nn.Module):
    """Pointwise: lesion logit ``x - t`` against 0, so the blended prediction is ``x > t`` wherever windows overlap."""

    def __init__(self, t: float):
        super().__init__()
        self.t = torch.nn.Parameter(torch.tensor(t))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.zeros_like(x), x - self.t], dim=1)


def test_sliding_window_inputs_are_whole_volume_z_scores(recipe_store: Path) -> None:
    ds = VolumeDataset(recipe_store)
    split = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present")
    items = TaskItems(ds, split.holdout, with_mask=True)
    held = [items[k] for k in range(len(items))]
    z = [_zscore(ds[i]["image"].read()) for i in split.holdout]
    masks = [ds[i]["label"].read() > 0 for i in split.holdout]
    # a threshold with no voxel within 1e-3 of it, so float blending cannot flip a voxel
    cand = np.linspace(0.5, 1.5, 101)
    t = float(next(c for c in cand if all(np.abs(v - c).min() > 1e-3 for v in z)))
    got = segment_volumes(_Threshold(t), held, (16, 32, 32), "fp32", torch.device("cpu"))
    preds = [v > t for v in z]
    inter = sum(float((p & m).sum()) for p, m in zip(preds, masks, strict=True))
    total = sum(float(p.sum() + m.sum()) for p, m in zip(preds, masks, strict=True))
    assert got["dice_global"] == pytest.approx(2 * inter / total, rel=1e-9)
    per = [2 * float((p & m).sum()) / float(p.sum() + m.sum()) for p, m in zip(preds, masks, strict=True) if m.any()]
    assert got["dice"] == pytest.approx(float(np.mean(per)), rel=1e-9)
    # the error split: voxel counts and lesions (stored ids) with at least one predicted voxel
    assert got["tp_voxels"] == inter
    assert got["fp_voxels"] == sum(float((p & ~m).sum()) for p, m in zip(preds, masks, strict=True))
    assert got["fn_voxels"] == sum(float((~p & m).sum()) for p, m in zip(preds, masks, strict=True))
    ids = [ds[i]["label"].read() for i in split.holdout]
    lesions = [(p, lab == v) for p, lab in zip(preds, ids, strict=True) for v in np.unique(lab) if v > 0]
    assert got["n_eval_lesions"] == len(lesions) > 0
    assert got["lesions_found"] == sum(bool((p & m).any()) for p, m in lesions)
    assert 0 < got["lesions_found"] < len(lesions)  # the threshold finds some lesions, not all: both counts tested
