"""`fastmed demo` runs end to end, its geometry check agrees with the ground truth, and it prints no PHI."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from fastmed.cli import main
from fastmed.train.engine.explog import read_jsonl

TRAIN = all(importlib.util.find_spec(m) is not None for m in ("torch", "monai", "matplotlib"))


def test_demo_end_to_end(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "report"
    args = ["demo", "--studies", "4", "--patches", "8", "--seed", "5", "--quick", "--report", str(report)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "geometry vs ground truth: all match" in out
    assert "replay from params identical: True" in out
    assert "SYNTH^" not in out  # synthetic patient names never reach the output
    for line in ("1. synthesized", "2. indexed", "3. assembled", "4. cut", "5. joined", "6. converted"):
        assert line in out
    assert "re-run: 0 converted" in out and "verify: ok" in out
    assert "equal the DICOM read: True" in out
    if not TRAIN:
        assert "training and report skipped" in out
        return
    for line in (
        "8. drew the R3D augmentation montage",
        "9. MAE pretraining",
        "10. linear probe",
        "11. label efficiency",
    ):
        assert line in out
    assert f"12. report: {report.resolve() / 'report.html'}" in out
    md = (report / "report.md").read_text()
    for png in ("throughput", "throughput_1", "data_wait", "loss", "montage", "label_efficiency"):
        assert (report / "plots" / f"{png}.png").exists() and f"plots/{png}.png" in md
    # the label-efficiency curve: the probe run is its 100 % point, the smaller fractions ran as their own runs
    curve = json.loads((report / "runs" / "label_efficiency" / "label_efficiency.json").read_text())
    assert curve["fractions"] == [0.01, 0.1, 1.0] and curve["run_dirs"][-1] == str(report.resolve() / "runs" / "probe")
    for run_dir, n in zip(curve["run_dirs"], curve["labelled_series"], strict=True):
        assert json.loads((Path(run_dir) / "metrics.json").read_text())["train_series"] == n
    assert curve["labelled_series"] == sorted(curve["labelled_series"])
    steps = re.search(r"9\. MAE pretraining .*: (\d+) steps", out)
    assert steps is not None and int(steps.group(1)) == 6
    assert "SYNTH^" not in md
    for run in ("mae", "probe"):
        recs = read_jsonl(report / "runs" / run / "metrics.jsonl")
        assert [r["step"] for r in recs] == list(range(1, 7))
        assert (report / "runs" / run / "config.yaml").exists()
    if importlib.util.find_spec("mlflow") is not None:  # each run's MLflow record holds its config and the report
        from mlflow.tracking import MlflowClient

        from fastmed.train.engine.tracking import file_uri

        for run in ("mae", "probe"):
            client = MlflowClient(tracking_uri=file_uri(report / "runs" / run / "mlruns"))
            (found,) = client.search_runs([client.get_experiment_by_name("fastmed").experiment_id])
            names = {a.path for a in client.list_artifacts(found.info.run_id)}
            assert {"config.yaml", "report.md", "report.html", "metrics.csv"} <= names
            assert [m.step for m in client.get_metric_history(found.info.run_id, "loss")] == list(range(1, 7))
    # the report's probe figures are the recipe's own
    metrics = json.loads((report / "runs" / "probe" / "metrics.json").read_text())["metrics"]
    auroc = re.search(r"AUROC on (\d+) held-out series \((\d+) with lesions\): (\S+)", out)
    assert auroc is not None
    if metrics.get("auroc") is not None:
        assert int(auroc.group(1)) == metrics["n_eval"] and float(auroc.group(3)) == pytest.approx(
            metrics["auroc"], 1e-3
        )


def test_demo_without_training_stops_after_the_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["demo", "--studies", "1", "--patches", "2", "--no-train", "--report", str(tmp_path / "r")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "7. re-run" in out and "8. " not in out and not (tmp_path / "r").exists()


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "synth", "index", "bench"):
        assert cmd in out
