"""Machinery: bf16 autocast on CPU, gradient accumulation, safetensors checkpoint/resume, experiment log."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from fastmed.train.engine.explog import ExperimentLog, read_jsonl  # noqa: E402
from fastmed.train.engine.loop import LoopState, run_steps  # noqa: E402
from fastmed.train.engine.precision import autocast, grad_scaler  # noqa: E402
from fastmed.train.models.config import get_config  # noqa: E402
from fastmed.train.models.mae import MAE  # noqa: E402
from fastmed.train.models.masking import mae_masks  # noqa: E402

from ._data import blob_images  # noqa: E402


def _mse_step(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    return torch.nn.functional.mse_loss(model(batch["image"]), batch["labels"])


def _regression_batches(n: int, size: int, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(5, 2, generator=g)
    out = []
    for _ in range(n):
        x = torch.randn(size, 5, generator=g)
        out.append({"image": x, "labels": x @ w})
    return out


def test_bf16_autocast_on_cpu() -> None:
    lin = torch.nn.Linear(4, 3)
    with autocast("bf16", "cpu"):
        assert lin(torch.randn(2, 4)).dtype == torch.bfloat16
    with autocast("fp32", "cpu"):
        assert lin(torch.randn(2, 4)).dtype == torch.float32
    with pytest.raises(ValueError, match="bf16 on CPU"):
        autocast("fp16", "cpu")
    assert not grad_scaler("bf16").is_enabled()


def test_bf16_training_reduces_loss() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    st = run_steps(model, opt, _regression_batches(40, 16), _mse_step, max_steps=40, precision="bf16")
    assert st.step == 40
    assert np.mean(st.losses[-5:]) < 0.1 * st.losses[0]


def test_accumulation_equals_one_big_batch() -> None:
    torch.manual_seed(0)
    a = torch.nn.Linear(5, 2)
    b = torch.nn.Linear(5, 2)
    b.load_state_dict(a.state_dict())
    micro = _regression_batches(8, 2, seed=1)
    big = [{k: torch.cat([m[k], n[k]]) for k in m} for m, n in zip(micro[0::2], micro[1::2], strict=True)]
    sa = run_steps(a, torch.optim.SGD(a.parameters(), lr=0.05), micro, _mse_step, max_steps=4, accumulate=2)
    sb = run_steps(b, torch.optim.SGD(b.parameters(), lr=0.05), big, _mse_step, max_steps=4)
    assert sa.step == sb.step == 4 and sa.micro_batches == 8
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6)
    assert sa.losses == pytest.approx(sb.losses, rel=1e-5)


def _mae_batches(cfg, n_batches: int, batch: int) -> list[dict]:
    images = torch.from_numpy(blob_images(n_batches * batch, cfg.img_size, seed=4))
    out = []
    for i in range(n_batches):
        idx = list(range(i * batch, (i + 1) * batch))
        out.append({"image": images[idx], "mae_mask": torch.from_numpy(mae_masks(cfg.grid, 0.75, 0, 0, idx))})
    return out


def _mae_step(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    return model(batch["image"], batch["mae_mask"])["loss"]


def test_resume_continues_the_same_loss_curve(tmp_path) -> None:
    pytest.importorskip("safetensors")
    from fastmed.train.engine.checkpoint import load_checkpoint, save_checkpoint

    cfg = get_config("vit2d_tiny")
    batches = _mae_batches(cfg, 8, 2)

    def fresh(seed: int) -> tuple[MAE, torch.optim.Optimizer]:
        torch.manual_seed(seed)
        m = MAE(cfg)
        return m, torch.optim.AdamW(m.parameters(), lr=1e-3)

    model_full, opt_full = fresh(0)
    full = run_steps(model_full, opt_full, batches, _mae_step, max_steps=4, accumulate=2)

    model, opt = fresh(0)
    first = run_steps(model, opt, batches, _mae_step, max_steps=2, accumulate=2)
    ckpt = save_checkpoint(
        tmp_path / "ckpt", model, opt, first, loader_state={"position": first.micro_batches}, extra={"model": "t"}
    )
    save_checkpoint(ckpt, model, opt, first, loader_state={"position": first.micro_batches})  # overwrite in place
    assert sorted(p.name for p in ckpt.iterdir()) == ["model.safetensors", "optimizer.pt", "state.json"]

    model2, opt2 = fresh(1)  # different init: everything must come from the checkpoint
    state, meta = load_checkpoint(ckpt, model2, opt2)
    assert state.step == 2 and meta["loader_state"] == {"position": 4}
    rest = run_steps(
        model2, opt2, batches[meta["loader_state"]["position"] :], _mae_step, max_steps=4, accumulate=2, state=state
    )
    assert rest.losses == full.losses  # bitwise: same weights, optimizer moments and batches
    ref = model_full.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in model2.state_dict().items())  # same final weights


def test_loop_stops_at_max_steps_and_when_batches_end() -> None:
    model = torch.nn.Linear(5, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    seen: list[int] = []
    st = run_steps(
        model, opt, _regression_batches(10, 2), _mse_step, max_steps=3, on_step=lambda s: seen.append(s.step)
    )
    assert st.step == 3 and seen == [1, 2, 3] and st.micro_batches == 3
    st = run_steps(model, opt, _regression_batches(3, 2), _mse_step, max_steps=100, state=LoopState())
    assert st.step == 3
    with pytest.raises(ValueError):
        run_steps(model, opt, [], _mse_step, max_steps=1, accumulate=0)


def test_experiment_log_jsonl_and_csv(tmp_path) -> None:
    with ExperimentLog(tmp_path / "run") as log:
        log.log(step=1, loss=np.float32(0.5), samples_per_s=10.0)
        log.log(step=2, loss=torch.tensor(0.25), auroc=float("nan"))
    recs = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in recs] == [1, 2]
    assert recs[0]["loss"] == 0.5 and recs[1]["loss"] == 0.25 and recs[1]["auroc"] == "nan"
    with (tmp_path / "run" / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["time_s", "step", "loss", "samples_per_s", "auroc"]
    assert rows[1]["auroc"] == "nan" and rows[0]["auroc"] == "" and float(rows[1]["loss"]) == 0.25
    assert all(json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())


def test_experiment_log_resume_keeps_records_up_to_the_step(tmp_path) -> None:
    run = tmp_path / "run"
    with ExperimentLog(run, mlflow=False) as log:
        for step in (1, 2, 3, 4):
            log.log(step=step, loss=1.0 / step)
    with ExperimentLog(run, mlflow=False, resume_step=2) as log:  # resumed from a checkpoint at step 2
        log.log(step=3, loss=0.3)
    recs = read_jsonl(run / "metrics.jsonl")
    assert [(r["step"], r["loss"]) for r in recs] == [(1, 1.0), (2, 0.5), (3, 0.3)]
    with (run / "metrics.csv").open() as fh:
        assert [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(fh)] == [(1, 1.0), (2, 0.5), (3, 0.3)]
    with ExperimentLog(run, mlflow=False) as log:  # a run that starts over
        log.log(step=1, loss=2.0)
    assert [r["loss"] for r in read_jsonl(run / "metrics.jsonl")] == [2.0]


@pytest.mark.parametrize("name", ["vit3d_tiny", "vit2d_tiny"])
def test_mae_steps_under_bf16_autocast(name: str) -> None:
    torch.manual_seed(0)
    cfg = get_config(name)
    model = MAE(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    batches = _mae_batches(cfg, 1, 2) * 12  # the same batch: overfit it
    st = run_steps(model, opt, batches, _mae_step, max_steps=12, precision="bf16")
    assert all(np.isfinite(st.losses))
    assert st.losses[-1] < st.losses[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast keeps fp32 master weights
