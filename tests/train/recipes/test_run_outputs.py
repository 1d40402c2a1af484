"""What a run folder holds, checked as a user reads it: held-out predictions against scikit-learn's AUROC and
calibration curve, the reliability PNG, the log across a resume (JSONL = CSV = the loop's losses), MLflow read back
with its own client, and the ONNX export of a fine-tuned LoRA run against onnxruntime and the unmerged model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
sklearn_metrics = pytest.importorskip("sklearn.metrics")
sklearn_calibration = pytest.importorskip("sklearn.calibration")

from fastmed.train.engine.explog import read_jsonl  # noqa: E402
from fastmed.train.engine.tracking import file_uri, mlflow_available  # noqa: E402
from fastmed.train.recipes import DataConfig, ModelConfig, RunConfig, TrainerConfig, run  # noqa: E402

PATCH = [24, 32, 32]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _cfg(store: Path, run_dir: Path, task: str, steps: int, **model: object) -> RunConfig:
    return RunConfig(
        task=task,
        seed=2,
        data=DataConfig(store=str(store), patch_size=PATCH, batch_size=2, num_workers=1, eval_batch_size=2),
        model=ModelConfig(**model),  # type: ignore[arg-type]
        trainer=TrainerConfig(max_steps=steps, log_every=1, threads=1),
        run_dir=str(run_dir),
    )


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _sklearn_ece(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE from scikit-learn's calibration curve (uniform bins) and numpy's bin counts of the same edges."""
    frac, conf = sklearn_calibration.calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)
    counts = counts[counts > 0]
    return float(np.sum(counts / counts.sum() * np.abs(frac - conf)))


def test_cls_run_folder_predictions_reliability_and_mlflow(recipe_store: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "cls"
    res = run(_cfg(recipe_store, run_dir, "cls", 3))  # the linear probe
    for name in ("config.yaml", "metrics.jsonl", "metrics.csv", "metrics.json", "predictions.csv", "reliability.png"):
        assert (run_dir / name).is_file(), name
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["bottleneck"] in ("data", "model") and report["samples_per_s"] > 0
    assert 0.0 <= report["data_wait_fraction"] < 1.0

    rows = _csv_rows(run_dir / "predictions.csv")
    y = np.array([float(r["label:lesion_present"]) for r in rows])
    p = np.array([float(r["prob:lesion_present"]) for r in rows])
    assert len(rows) == report["holdout_series"] == res.metrics["n_eval"]
    assert 0 < y.sum() < len(y)  # both classes held out (stratified split)
    assert res.metrics["auroc"] == pytest.approx(sklearn_metrics.roc_auc_score(y, p), abs=1e-6)
    assert res.metrics["ece"] == pytest.approx(_sklearn_ece(y, p), abs=1e-6)
    import matplotlib.image

    png = matplotlib.image.imread(run_dir / "reliability.png")
    assert png.ndim == 3 and png.shape[0] > 100 and png.shape[1] > 100

    if not mlflow_available():
        return
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=file_uri(run_dir / "mlruns"))
    exp = client.get_experiment_by_name("fastmed")
    assert exp is not None
    (found,) = client.search_runs([exp.experiment_id])
    assert found.info.status == "FINISHED"
    assert found.data.params["trainer.max_steps"] == "3" and found.data.params["model.head"] == "linear"
    assert found.data.params["data.store"] == str(recipe_store)
    assert found.data.metrics["eval.auroc"] == pytest.approx(res.metrics["auroc"])
    assert found.data.metrics["eval.auroc.lesion_present"] == pytest.approx(res.metrics["auroc"])
    assert found.data.metrics["loss"] == pytest.approx(res.losses[-1])
    arts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"config.yaml", "metrics.csv", "metrics.json", "predictions.csv", "reliability.png"} <= arts


def test_log_of_a_resumed_run_holds_the_whole_curve_once(recipe_store: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "mae"
    run(_cfg(recipe_store, run_dir, "mae", 2))
    # a record written after the checkpoint (a run stopped between a log and its next checkpoint) is dropped
    with (run_dir / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps({"time_s": 9.0, "step": 3, "loss": 123.0}) + "\n")
    res = run(_cfg(recipe_store, run_dir, "mae", 4))
    recs = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["step"] for r in recs] == [1, 2, 3, 4]
    assert [r["loss"] for r in recs] == pytest.approx(res.losses)  # the loop's own per-step losses
    rows = _csv_rows(run_dir / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["loss"]) for r in rows] == pytest.approx(res.losses)

    fresh = _cfg(recipe_store, run_dir, "mae", 2)
    fresh.trainer.resume = False  # starting over in the same folder starts the log over
    res2 = run(fresh)
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl")] == [1, 2]
    assert [float(r["loss"]) for r in _csv_rows(run_dir / "metrics.csv")] == pytest.approx(res2.losses)


def test_export_of_a_linear_probe_run(recipe_store: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from fastmed.train.recipes.export import export_run

    run_dir = tmp_path / "probe"
    run(_cfg(recipe_store, run_dir, "cls", 2))
    out = export_run(run_dir)  # the probe's feature BatchNorm is folded into its head for the graph
    assert out.onnx == run_dir / "model.onnx" and out.lora_merged == 0 and out.max_abs_diff < 1e-4


def test_export_of_a_lora_run_against_onnxruntime_and_the_unmerged_model(recipe_store: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from fastmed.train.engine.checkpoint import load_checkpoint
    from fastmed.train.recipes.export import export_run
    from fastmed.train.recipes.runner import model_shape
    from fastmed.train.recipes.tasks import build_task

    run_dir = tmp_path / "lora"
    cfg = _cfg(recipe_store, run_dir, "cls", 2, lora=True)
    run(cfg)
    out = export_run(run_dir, tmp_path / "m.onnx")
    assert out.task == "cls" and out.lora_merged > 0 and out.max_abs_diff < 1e-4

    # oracle: the trained model as the recipe holds it (adapters unmerged), on a batch size the export never saw
    model = build_task(cfg, model_shape(cfg), None, 1).model
    load_checkpoint(run_dir / "checkpoint", model)
    model.eval()
    x = torch.randn(3, 1, *PATCH, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = model(x).numpy()
    sess = ort.InferenceSession(str(out.onnx), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)

    with pytest.raises(ValueError, match="mae run"):
        mae_dir = tmp_path / "mae"
        run(_cfg(recipe_store, mae_dir, "mae", 1))
        export_run(mae_dir)
