"""Honest learning tests: the recipes learn from the synthetic archive through the real data path
(store -> fm.VolumeDataset -> study split -> fastmed Compose -> fm.DataLoader fast path -> recipe), on CPU with
fixed seeds. The thresholds and the measured margins are in docs/train.md ("Learning tests").

The MAE run is shared: its checkpoint is the pretrained encoder of the probe and of CLIP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fastmed.train.recipes import DataConfig, ModelConfig, RunConfig, TrainerConfig, run
from fastmed.train.recipes.runner import RunResult

pytestmark = pytest.mark.slow

VOLUME = [24, 64, 64]  # whole synthetic CT/MR volumes: a lesion anywhere is in the input

# Asserted floors, set below the values measured on this archive (docs/train.md, "Learning tests").
MAE_RATIO = 0.75  # mean loss of the last 20 steps over that of the first 5 (measured 0.63)
MAE_HELDOUT = 0.85  # held-out masked-patch loss; 1.0 = predicting each normalised patch flat (measured 0.74)
PROBE_AUROC_GOAL = 0.9  # the goal: NOT reached yet (measured 0.76 per study), see docs/train.md
PROBE_AUROC_FLOOR = 0.7  # asserted: clearly above 0.5 (chance)
CLIP_OVER_CHANCE = 2.0  # image->text recall@1 over chance (measured 0.30 against 0.11, 2.7x)


def _run(task: str, store: Path, run_dir: Path, steps: int, lr: float, batch: int, **kw: Any) -> RunResult:
    cfg = RunConfig(
        task=task,
        seed=1,
        data=DataConfig(store=str(store), patch_size=kw.pop("patch", VOLUME), batch_size=batch, num_workers=1),
        model=ModelConfig(**kw.pop("model", {})),
        trainer=TrainerConfig(max_steps=steps, lr=lr, log_every=25),
        run_dir=str(run_dir),
        **kw,
    )
    return run(cfg)


@pytest.fixture(scope="module")
def mae(learning_store: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return _run("mae", learning_store, tmp_path_factory.mktemp("mae"), 400, 3e-3, 4)


def test_mae_loss_falls_well_below_its_start(mae: RunResult) -> None:
    first, last = float(np.mean(mae.losses[:5])), float(np.mean(mae.losses[-20:]))
    held = mae.metrics["eval_loss"]
    print(f"\nMAE: loss first 5 steps {first:.3f} -> last 20 {last:.3f} ({last / first:.2f}x), held-out {held:.3f}")
    assert last < MAE_RATIO * first
    # 1.0 is the loss of predicting every normalised patch as flat (its mean): the model predicts structure
    assert held < MAE_HELDOUT


def test_linear_probe_finds_lesions_on_held_out_studies(mae: RunResult, learning_store: Path, tmp_path: Path) -> None:
    assert mae.checkpoint is not None
    res = _run("cls", learning_store, tmp_path, 150, 1e-2, 8, pretrained=str(mae.checkpoint))
    m = res.metrics
    auroc, studies = m["auroc_study"], m["n_eval_studies"]
    print(f"\nprobe: AUROC per study {auroc:.3f} ({studies:.0f} studies), per series {m['auroc']:.3f}")
    assert auroc >= PROBE_AUROC_FLOOR
    if auroc < PROBE_AUROC_GOAL:
        print(f"probe AUROC {auroc:.3f} is below the goal {PROBE_AUROC_GOAL} (known, see docs/train.md)")


def test_clip_retrieval_beats_chance_on_held_out_pairs(mae: RunResult, learning_store: Path, tmp_path: Path) -> None:
    assert mae.checkpoint is not None
    res = _run("clip", learning_store, tmp_path, 300, 2e-3, 8, pretrained=str(mae.checkpoint))
    m = res.metrics
    print(f"\nCLIP: {m}")
    assert m["i2t_r@1"] >= CLIP_OVER_CHANCE * m["chance_r@1"]
