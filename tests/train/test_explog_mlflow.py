"""ExperimentLog's MLflow tracking, read back with MLflow's own client from a ``file:`` store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fastmed.train.engine.tracking import file_uri, mlflow_available

pytest.importorskip("mlflow")

from mlflow.tracking import MlflowClient  # noqa: E402

from fastmed.train.engine.explog import ExperimentLog, read_jsonl  # noqa: E402


def test_run_in_file_store_reads_back_with_mlflow_client(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    losses = [0.9, 0.5, np.float32(0.25)]
    with ExperimentLog(run_dir, run_name="mae-test") as log:
        assert log.mlflow is not None
        log.log_params({"lr": 0.001, "model": {"name": "vit3d_tiny", "depth": 2}})
        for step, loss in enumerate(losses, 1):
            log.log(step=step, loss=loss, samples_per_s=10.0 * step, note="text is JSONL-only", auroc=float("nan"))
        cfg = run_dir / "config.yaml"
        cfg.write_text("lr: 0.001\n")
        log.log_artifact(cfg)
        run_id = log.mlflow.run_id

    client = MlflowClient(tracking_uri=file_uri(run_dir / "mlruns"))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "mae-test"
    assert run.data.params == {"lr": "0.001", "model.name": "vit3d_tiny", "model.depth": "2"}
    history = client.get_metric_history(run_id, "loss")
    recs = read_jsonl(run_dir / "metrics.jsonl")
    assert [(m.step, m.value) for m in history] == [(r["step"], r["loss"]) for r in recs]
    assert [m.value for m in history] == pytest.approx([float(v) for v in losses])
    assert [m.value for m in client.get_metric_history(run_id, "samples_per_s")] == [10.0, 20.0, 30.0]
    assert "note" not in run.data.metrics and "auroc" not in run.data.metrics  # not numeric / not finite
    assert {a.path for a in client.list_artifacts(run_id)} == {"config.yaml", "metrics.csv"}
    assert json.loads((run_dir / "params.json").read_text())["model"]["depth"] == 2


def test_failed_run_is_marked_failed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), ExperimentLog(tmp_path / "run") as log:
        run_id = log.mlflow.run_id if log.mlflow is not None else ""
        raise RuntimeError("boom")
    assert MlflowClient(tracking_uri=file_uri(tmp_path / "run" / "mlruns")).get_run(run_id).info.status == "FAILED"


def test_mlflow_false_logs_nothing_to_mlflow(tmp_path: Path) -> None:
    assert mlflow_available()
    with ExperimentLog(tmp_path / "run", mlflow=False) as log:
        log.log(step=1, loss=1.0)
        assert log.mlflow is None
    assert not (tmp_path / "run" / "mlruns").exists()


def test_attach_to_last_run_adds_artifacts_after_close(tmp_path: Path) -> None:
    from fastmed.train.engine.tracking import attach_to_last_run

    with ExperimentLog(tmp_path / "run") as log:
        log.log(step=1, loss=1.0)
        run_id = log.mlflow.run_id if log.mlflow is not None else ""
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    assert attach_to_last_run(tmp_path / "run", [report]) == run_id
    client = MlflowClient(tracking_uri=file_uri(tmp_path / "run" / "mlruns"))
    assert {a.path for a in client.list_artifacts(run_id)} == {"metrics.csv", "report.md"}
    assert attach_to_last_run(tmp_path / "elsewhere", [report]) is None


def test_summary_names_mlflow_refuses_are_renamed(tmp_path: Path) -> None:
    # the CLIP recipe's held-out metrics are named i2t_r@1 ...: '@' is not allowed in MLflow metric names
    with ExperimentLog(tmp_path / "run") as log:
        assert log.mlflow is not None
        log.log_summary({"i2t_r@1": 0.25, "auroc/liver": 0.75}, step=3)
        run_id = log.mlflow.run_id
    metrics = MlflowClient(tracking_uri=file_uri(tmp_path / "run" / "mlruns")).get_run(run_id).data.metrics
    assert metrics == {"eval.i2t_r_at1": 0.25, "eval.auroc.liver": 0.75}
