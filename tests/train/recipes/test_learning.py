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

# The goals. MAE passes with a margin; the probe and CLIP do NOT reach theirs yet (xfail, not strict, so
# an improvement shows up as XPASS); segmentation asserts a floor below its goal. Measured values in
# docs/train.md ("Learning tests").
MAE_RATIO = 0.75  # mean loss of the last 20 steps over that of the first 5 (measured 0.64)
MAE_HELDOUT = 0.85  # held-out masked-patch loss; 1.0 = predicting each normalised patch flat (measured 0.744)
PROBE_AUROC = 0.9  # lesion presence, per held-out study (measured 0.29 to 0.76: chance level, split-sensitive)
CLIP_OVER_CHANCE = 2.0  # image->text recall@1 over chance (measured 1.8x to 2.7x of 0.11 on 20 pairs)
SEG_STEPS = 250
SEG_DICE_GOAL = 0.7  # the goal: NOT reached (pooled Dice 0.63 after 250 steps, 0.67 after 600)
SEG_DICE_FLOOR = 0.55  # asserted: the lesions are found (0.0 without learning)


def _run(task: str, store: Path, run_dir: Path, steps: int, lr: float, batch: int, **kw: Any) -> RunResult:
    cfg = RunConfig(
        task=task,
        seed=1,
        data=DataConfig(
            store=str(store), patch_size=kw.pop("patch", VOLUME), batch_size=batch, num_workers=1, **kw.pop("data", {})
        ),
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


@pytest.mark.xfail(reason="frozen tiny-MAE features do not separate lesion presence yet (AUROC ~chance)", strict=False)
def test_linear_probe_finds_lesions_on_held_out_studies(mae: RunResult, learning_store: Path, tmp_path: Path) -> None:
    assert mae.checkpoint is not None
    res = _run("cls", learning_store, tmp_path, 150, 1e-2, 8, pretrained=str(mae.checkpoint))
    m = res.metrics
    auroc, studies = m["auroc_study"], m["n_eval_studies"]
    print(f"\nprobe: AUROC per study {auroc:.3f} ({studies:.0f} studies), per series {m['auroc']:.3f}")
    assert auroc >= PROBE_AUROC


@pytest.mark.xfail(reason="recall@1 is 1.8-2.7x chance on 20 held-out pairs: not clearly above yet", strict=False)
def test_clip_retrieval_beats_chance_on_held_out_pairs(mae: RunResult, learning_store: Path, tmp_path: Path) -> None:
    assert mae.checkpoint is not None
    res = _run("clip", learning_store, tmp_path, 300, 2e-3, 8, pretrained=str(mae.checkpoint))
    m = res.metrics
    print(f"\nCLIP: {m}")
    assert m["i2t_r@1"] >= CLIP_OVER_CHANCE * m["chance_r@1"]


def test_segmentation_dice_on_held_out_lesions(learning_store: Path, tmp_path: Path) -> None:
    # UNETR from scratch on 16x32x32 patches, half of each batch centred on lesions (fm.LabelPatchSampler);
    # held-out volumes predicted whole by sliding windows
    res = _run("seg", learning_store, tmp_path, SEG_STEPS, 2e-3, 4, patch=[16, 32, 32], data={"foreground_prob": 0.5})
    m = res.metrics
    print(f"\nseg: Dice pooled over held-out lesion voxels {m['dice_global']:.3f}, mean per volume {m['dice']:.3f}")
    assert m["dice_global"] >= SEG_DICE_FLOOR
    if m["dice_global"] < SEG_DICE_GOAL:
        print(f"seg Dice {m['dice_global']:.3f} is below the goal {SEG_DICE_GOAL} (known, see docs/train.md)")
