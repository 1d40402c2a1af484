"""``fastmed pretrain|finetune`` through a subprocess: Hydra overrides reach the run, the run folder holds the
resolved config, wrong overrides fail with a message, and a pretrained MAE encoder feeds a fine-tune."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fastmed.train.recipes import RunConfig
from fastmed.train.recipes.cli import CONF_DIR, compose_config

ROOT = Path(__file__).resolve().parents[3]


def _fastmed(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run(
        [sys.executable, "-m", "fastmed", *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def test_compose_applies_groups_and_overrides() -> None:
    cfg = compose_config("cls", ["data=findings", "model=vit2d_tiny", "trainer.max_steps=7", "model.lora=true"])
    assert cfg.task == "cls" and cfg.model.name == "vit2d_tiny" and cfg.model.lora
    assert cfg.trainer.max_steps == 7 and cfg.trainer.lr == 1e-3  # the rest from trainer/default.yaml
    assert cfg.data.label_keys == ["findings:left lung", "findings:liver", "findings:right lung"]
    assert (CONF_DIR / "run.yaml").is_file()
    assert compose_config("mae", ["data=synth"]).data.patch_size == [24, 64, 64]


def test_bad_overrides_fail_with_a_message() -> None:
    for bad in ("trainer.max_step=3", "trainer.max_steps=abc", "model=vit9"):
        with pytest.raises(Exception, match=r"max_step|vit9"):
            compose_config("mae", [bad])
    res = _fastmed("pretrain", "mae", "trainer.max_step=3", "--cfg")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "bad configuration" in res.stdout and "trainer.max_step" in res.stdout


def test_cli_runs_write_resolved_config_and_feed_finetune(recipe_store: Path, tmp_path: Path) -> None:
    common = [f"data.store={recipe_store}", "data.patch_size=[24,32,32]", "data.batch_size=2", "data.num_workers=1"]
    mae_dir = tmp_path / "mae"
    res = _fastmed("pretrain", "mae", *common, "trainer=quick", "trainer.max_steps=3", f"run_dir={mae_dir}", "seed=4")
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout[res.stdout.index("{") :])
    assert summary["steps"] == 3 and summary["bottleneck"] in ("data", "model")
    cfg = RunConfig.from_dict(yaml.safe_load((mae_dir / "config.yaml").read_text()))
    assert cfg.seed == 4 and cfg.trainer.max_steps == 3 and cfg.data.patch_size == [24, 32, 32]
    assert cfg == compose_config(
        "mae", [*common, "trainer=quick", "trainer.max_steps=3", f"run_dir={mae_dir}", "seed=4"]
    )
    assert (mae_dir / "metrics.json").is_file() and (mae_dir / "checkpoint" / "model.safetensors").is_file()

    seg_dir = tmp_path / "seg"
    res = _fastmed(
        "finetune",
        "seg",
        *common,
        "trainer=quick",
        "trainer.max_steps=2",
        f"pretrained={mae_dir / 'checkpoint'}",
        f"run_dir={seg_dir}",
        "model.lora=true",
        "data.foreground_prob=0.5",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((seg_dir / "metrics.json").read_text())
    assert report["steps"] == 2 and "dice" in report["metrics"]
