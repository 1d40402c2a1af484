"""MLflow tracking for :class:`~fastmed.train.engine.explog.ExperimentLog` (used when mlflow is installed).

Everything goes through an :class:`mlflow.tracking.MlflowClient` bound to one tracking URI (no global
"active run" state, so several logs can be open at once). A run directory's default store is MLflow's
file store ``<run_dir>/mlruns``; MLflow 3 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE`` is
true, which is set (if unset) for ``file:`` URIs only.
"""

from __future__ import annotations

import importlib.util
import math
import numbers
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def mlflow_available() -> bool:
    """True when ``mlflow`` (or ``mlflow-skinny``) can be imported."""
    return importlib.util.find_spec("mlflow") is not None


def file_uri(path: str | os.PathLike[str]) -> str:
    """The ``file:`` URI of a local folder (MLflow's file store)."""
    return Path(path).resolve().as_uri()


class MlflowRun:
    """One MLflow run: parameters, metrics per step, artifacts.

    Parameters
    ----------
    tracking_uri
        Where to track (``file:///...`` for the file store, or any URI MLflow accepts).
    experiment
        Experiment name (created if missing).
    run_name
        Display name of the run.
    """

    def __init__(self, tracking_uri: str, experiment: str = "fastmed", run_name: str | None = None):
        if tracking_uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        exp_id = found.experiment_id if found is not None else self.client.create_experiment(experiment)
        self.experiment_id: str = exp_id
        self.run_id: str = self.client.create_run(exp_id, run_name=run_name).info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters (nested mappings flattened to ``a.b`` keys; values as strings)."""
        from mlflow.entities import Param

        flat = _flatten(params)
        items = [Param(k, str(v)[:6000]) for k, v in flat.items()]
        for i in range(0, len(items), 100):  # MLflow's batch limit
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, values: Mapping[str, Any], step: int) -> None:
        """Log the numeric, finite entries of ``values`` at ``step`` (others are left to the JSONL log)."""
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        metrics = [
            Metric(k, float(v), ts, int(step))
            for k, v in values.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))
        ]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy a file into the run's artifacts."""
        self.client.log_artifact(self.run_id, os.fspath(path), artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        """Mark the run finished (or ``"FAILED"``)."""
        self.client.set_terminated(self.run_id, status=status)


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def attach_to_last_run(
    run_dir: str | os.PathLike[str], files: Sequence[str | os.PathLike[str]], experiment: str = "fastmed"
) -> str | None:
    """Add ``files`` as artifacts of the latest run in ``<run_dir>/mlruns`` (the store an ExperimentLog writes).

    For what is written after a run's log closed (its resolved config, the run report). Returns the
    run id, or None when mlflow is not installed or the folder holds no such run.
    """
    store = Path(run_dir) / "mlruns"
    if not mlflow_available() or not store.is_dir():
        return None
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=file_uri(store))
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return None
    run_id: str = runs[0].info.run_id
    for f in files:
        client.log_artifact(run_id, os.fspath(f))
    return run_id
