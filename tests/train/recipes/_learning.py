"""The learning tests' way of running a recipe: seed 1, one loader thread, the test's steps and rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastmed.train.recipes import DataConfig, ModelConfig, RunConfig, TrainerConfig, run
from fastmed.train.recipes.runner import RunResult


def run_recipe(task: str, store: Path, run_dir: Path, steps: int, lr: float, batch: int, **kw: Any) -> RunResult:
    cfg = RunConfig(
        task=task,
        seed=1,
        data=DataConfig(
            store=str(store), patch_size=kw.pop("patch"), batch_size=batch, num_workers=1, **kw.pop("data", {})
        ),
        model=ModelConfig(**kw.pop("model", {})),
        trainer=TrainerConfig(max_steps=steps, lr=lr, log_every=25, **kw.pop("trainer", {})),
        run_dir=str(run_dir),
        **kw,
    )
    return run(cfg)
