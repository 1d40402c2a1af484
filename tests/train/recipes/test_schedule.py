"""Learning-rate schedules: cosine against torch's ``CosineAnnealingLR``, and the rates a recipe run logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastmed.train.engine.explog import read_jsonl
from fastmed.train.recipes import DataConfig, RunConfig, TrainerConfig, run
from fastmed.train.recipes.schedule import lr_factor

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("warmup", [0, 3])
def test_cosine_after_warmup_is_torchs_cosine_annealing(warmup: int) -> None:
    steps = 12
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - warmup)
    want = []
    for _ in range(steps - warmup):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    got = [lr_factor(k, steps, "cosine", warmup) for k in range(1, steps + 1)]
    assert got[:warmup] == pytest.approx([k / (warmup + 1) for k in range(1, warmup + 1)])
    assert got[warmup:] == pytest.approx(want, abs=1e-12)
    assert all(f > 0 for f in got)
    assert [lr_factor(k, steps, "constant", warmup) for k in range(warmup + 1, steps + 1)] == [1.0] * (steps - warmup)
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(1, steps, "linear")


def test_run_logs_the_scheduled_rates_also_after_a_resume(recipe_store: Path, tmp_path: Path) -> None:
    def cfg(steps: int) -> RunConfig:
        tr = TrainerConfig(max_steps=steps, lr=1e-3, log_every=1, schedule="cosine", warmup_steps=1)
        data = DataConfig(store=str(recipe_store), batch_size=2, patch_size=[24, 32, 32])
        return RunConfig(task="mae", seed=1, data=data, trainer=tr, run_dir=str(tmp_path))

    run(cfg(2))
    run(cfg(4))  # continued from the 2-step checkpoint (max_steps may change on resume); rates follow step 3, 4
    rates = [r["lr"] for r in read_jsonl(tmp_path / "metrics.jsonl")]
    assert rates[2:] == pytest.approx([1e-3 * lr_factor(k, 4, "cosine", 1) for k in (3, 4)])
    assert rates[:2] == pytest.approx([1e-3 * lr_factor(k, 2, "cosine", 1) for k in (1, 2)])
