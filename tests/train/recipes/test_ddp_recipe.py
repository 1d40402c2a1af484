"""The MAE recipe from the command line under ``torchrun`` (2 gloo ranks on CPU): it trains, rank 0 writes the
run folder with ``world_size`` 2, and rank 1 leaves its loader state for a resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastmed.train.engine.explog import read_jsonl

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_mae_recipe_under_torchrun(recipe_store: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["OMP_NUM_THREADS"] = "1"
    run_dir = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "fastmed"]
    args = ["pretrain", "mae", f"data.store={recipe_store}", "data.patch_size=[24,32,32]", "data.batch_size=2"]
    args += [
        "data.num_workers=1",
        "trainer.max_steps=2",
        "trainer.log_every=1",
        "trainer.threads=1",
        f"run_dir={run_dir}",
    ]
    res = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-4000:]
    assert res.stdout.count('"run_dir"') == 1  # one summary, from rank 0
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["world_size"] == 2 and report["steps"] == 2
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl")] == [1, 2]
    assert (run_dir / "checkpoint" / "model.safetensors").is_file()
    assert json.loads((run_dir / "loader_state_rank1.json").read_text())
