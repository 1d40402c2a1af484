"""MAE recipe on the converted synthetic archive: store -> fm.DataLoader (fast path) -> MAE, end to end.

Oracles: the MAE mask of each sample equals ``mae_mask(grid, ratio, seed, epoch, index)`` computed on its own;
a resumed run's loss curve equals the uninterrupted run's (bitwise, CPU, one thread).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fastmed.store.dataset import VolumeDataset
from fastmed.train.engine.explog import read_jsonl
from fastmed.train.models.masking import mae_mask
from fastmed.train.recipes import DataConfig, RunConfig, TrainerConfig, run
from fastmed.train.recipes.data import TaskItems, split_by_study, train_compose


def _cfg(store: Path, run_dir: Path, steps: int, **data: Any) -> RunConfig:
    d = {"store": str(store), "batch_size": 2, "patch_size": [24, 32, 32], **data}
    trainer = TrainerConfig(max_steps=steps, log_every=1)
    return RunConfig(task="mae", seed=1, data=DataConfig(**d), trainer=trainer, run_dir=str(run_dir))


def test_loader_side_mask_is_the_keyed_mask(recipe_store: Path) -> None:
    ds = VolumeDataset(recipe_store)
    split = split_by_study(ds, 3, 0.25, seed=1, stratify="lesion_present")
    items = TaskItems(ds, split.train[:3])
    aug = train_compose((24, 32, 32), (3, 4, 4), 0.75, seg=False)
    outs = aug.batch([items[k] for k in range(3)], seed=7, indices=[0, 1, 2], epoch=2)
    assert isinstance(outs, list)
    for k, out in enumerate(outs):
        np.testing.assert_array_equal(out["mae_mask"], mae_mask((3, 4, 4), 0.75, 7, 2, k))
        assert "params" not in out and out["image"].shape == (1, 24, 32, 32)
        single = aug(items[k], seed=7, index=k, epoch=2)
        np.testing.assert_array_equal(np.asarray(single["image"]), np.asarray(out["image"]))


def test_split_is_by_study_seeded_and_stratified(recipe_store: Path) -> None:
    ds = VolumeDataset(recipe_store)
    a = split_by_study(ds, 3, 0.25, seed=1, stratify="lesion_present")
    b = split_by_study(ds, 3, 0.25, seed=1, stratify="lesion_present")
    c = split_by_study(ds, 3, 0.25, seed=2, stratify="lesion_present")
    assert a == b and a != c
    study = {i: ds[i]["study_id"] for i in range(len(ds))}
    assert not {study[i] for i in a.train} & {study[i] for i in a.holdout}
    col = ds.label_names.index("lesion_present")
    held = {float(ds[i]["labels"][col]) for i in a.holdout}
    assert held == {0.0, 1.0}
    assert all(ds[i]["image"].ndim == 3 for i in a.train + a.holdout)


def test_resume_continues_the_same_loss_curve(recipe_store: Path, tmp_path: Path) -> None:
    whole = run(_cfg(recipe_store, tmp_path / "whole", 6)).losses
    run(_cfg(recipe_store, tmp_path / "part", 3))
    resumed = run(_cfg(recipe_store, tmp_path / "part", 6))
    assert len(whole) == 6 and resumed.losses == whole
    assert [r["step"] for r in read_jsonl(tmp_path / "part" / "metrics.jsonl")] == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_a_checkpoint_of_another_configuration(recipe_store: Path, tmp_path: Path) -> None:
    run(_cfg(recipe_store, tmp_path, 1))
    other = _cfg(recipe_store, tmp_path, 2)
    other.data.mask_ratio = 0.5
    with pytest.raises(ValueError, match=r"another configuration \(data.mask_ratio differ"):
        run(other)
    other.trainer.resume = False  # starting over is allowed
    assert len(run(other).losses) == 2


def test_bf16_and_accumulation_run_and_report_throughput(recipe_store: Path, tmp_path: Path) -> None:
    cfg = _cfg(recipe_store, tmp_path, 2)
    cfg.trainer.precision, cfg.trainer.accumulate = "bf16", 2
    res = run(cfg)
    assert len(res.losses) == 2 and all(np.isfinite(res.losses))
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["steps"] == 2 and report["bottleneck"] in ("data", "model")
    assert report["samples_per_s"] > 0 and 0.0 <= report["data_wait_fraction"] <= 1.0
    assert np.isfinite(report["metrics"]["eval_loss"])
