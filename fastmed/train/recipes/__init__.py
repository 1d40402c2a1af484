"""Training recipes fed by ``fm.DataLoader`` from a fastmed store: MAE and CLIP pretraining, cls and seg fine-tuning.

``RunConfig`` (plain dataclasses, Hydra structured configs) describes a run; ``run(cfg)`` trains, evaluates on
held-out studies and returns a :class:`~fastmed.train.recipes.runner.RunResult`. The configuration classes
import no torch; ``run`` imports the training stack when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastmed.train.recipes.config import TASKS, DataConfig, ModelConfig, RunConfig, TrainerConfig

if TYPE_CHECKING:
    from fastmed.train.recipes.runner import RunResult


def run(cfg: RunConfig) -> RunResult:
    """Run one recipe (see :func:`fastmed.train.recipes.runner.run`)."""
    from fastmed.train.recipes.runner import run as _run

    return _run(cfg)


def __getattr__(name: str) -> object:
    if name == "RunResult":
        from fastmed.train.recipes.runner import RunResult

        return RunResult
    raise AttributeError(f"module 'fastmed.train.recipes' has no attribute {name!r}")


__all__ = ["TASKS", "DataConfig", "ModelConfig", "RunConfig", "RunResult", "TrainerConfig", "run"]
