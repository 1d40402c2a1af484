"""Experiment log: JSONL (always), CSV (on close), and MLflow tracking when mlflow is installed.

MLflow gets the parameters, the numeric metrics per step and artifacts (config, CSV, report).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any

from fastmed.train.engine.tracking import MlflowRun, file_uri, mlflow_available


def _plain(v: Any) -> Any:
    if hasattr(v, "item") and callable(v.item):  # numpy / torch scalars
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf
    return v


class ExperimentLog:
    """Append metrics records to ``<run_dir>/metrics.jsonl``, mirror them in ``metrics.csv`` and in MLflow.

    Parameters
    ----------
    run_dir
        Run folder (created).
    name
        File stem (``metrics``).
    mlflow
        ``None``: track with MLflow when it is installed; ``True``: require it; ``False``: never.
    tracking_uri
        MLflow tracking URI (default: ``MLFLOW_TRACKING_URI`` if set, else the file store
        ``<run_dir>/mlruns``).
    experiment, run_name
        MLflow experiment name and run name (default: the run folder's name).
    resume_step
        ``None``: a fresh log (an existing ``metrics.jsonl`` is replaced). A step number: continue the log of
        a run resumed from that step: the existing records up to it are kept (later ones, written after the
        checkpoint the run resumes from, are dropped), so the JSONL and CSV hold the run's whole curve once.
        The MLflow run is a new one, given the kept records too.

    Examples
    --------
    >>> with ExperimentLog(tmp_dir) as log:  # doctest: +SKIP
    ...     log.log_params({"lr": 1e-3})
    ...     log.log(step=1, loss=0.7, samples_per_s=120.0)
    """

    def __init__(
        self,
        run_dir: str | PathLike[str],
        name: str = "metrics",
        *,
        mlflow: bool | None = None,
        tracking_uri: str | None = None,
        experiment: str = "fastmed",
        run_name: str | None = None,
        resume_step: int | None = None,
    ):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.dir / f"{name}.jsonl"
        self.csv = self.dir / f"{name}.csv"
        self.records: list[dict[str, Any]] = []
        if resume_step is not None and self.jsonl.is_file():
            self.records = [r for r in read_jsonl(self.jsonl) if _step_of(r) <= resume_step]
        self.jsonl.write_text("".join(json.dumps(r) + "\n" for r in self.records))
        self._start = time.monotonic()
        self.mlflow: MlflowRun | None = None
        if mlflow or (mlflow is None and mlflow_available()):
            if not mlflow_available():
                raise ImportError("ExperimentLog(mlflow=True) needs mlflow: pip install mlflow-skinny")
            uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or file_uri(self.dir / "mlruns")
            self.mlflow = MlflowRun(uri, experiment, run_name or self.dir.resolve().name)
            for i, rec in enumerate(self.records):
                self.mlflow.log_metrics({k: v for k, v in rec.items() if k != "step"}, int(rec.get("step", i)))

    def log(self, **values: Any) -> dict[str, Any]:
        """Record ``values`` (plus ``time_s`` since the log opened); the JSON line is flushed at once.

        MLflow gets the numeric values as metrics at ``values["step"]`` (else the record's number).
        """
        rec = {"time_s": round(time.monotonic() - self._start, 6), **{k: _plain(v) for k, v in values.items()}}
        with self.jsonl.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        self.records.append(rec)
        if self.mlflow is not None:
            step = rec.get("step", len(self.records) - 1)
            self.mlflow.log_metrics({k: v for k, v in rec.items() if k != "step"}, int(step))
        return rec

    def log_summary(self, values: Mapping[str, Any], step: int) -> None:
        """Send end-of-run values (held-out metrics) to MLflow at ``step``; the files keep them in ``metrics.json``.

        Keys get the prefix ``eval.`` and ``/`` becomes ``.`` (``auroc/liver`` -> ``eval.auroc.liver``: MLflow's
        file store keeps a metric ``a/b`` in a folder ``a``, which a metric ``a`` would collide with); non-finite
        values are left out.
        """
        if self.mlflow is not None:
            named = {"eval." + k.replace("/", "."): _plain(v) for k, v in values.items()}
            self.mlflow.log_metrics(named, int(step))

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record the run's parameters (a resolved config): ``params.json`` here, parameters in MLflow."""
        (self.dir / "params.json").write_text(json.dumps(params, indent=2, default=str))
        if self.mlflow is not None:
            self.mlflow.log_params(params)

    def log_artifact(self, path: str | PathLike[str], artifact_path: str | None = None) -> None:
        """Attach a file (config, report, plot) to the MLflow run; a no-op without MLflow."""
        if self.mlflow is not None:
            self.mlflow.log_artifact(path, artifact_path)

    def write_csv(self) -> Path:
        """Write every record so far as CSV (columns: the union of keys in first-seen order)."""
        cols: dict[str, None] = {}
        for rec in self.records:
            cols.update(dict.fromkeys(rec))
        with self.csv.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(cols))
            writer.writeheader()
            writer.writerows(self.records)
        return self.csv

    def close(self, status: str = "FINISHED") -> None:
        """Write the CSV; end the MLflow run (with the CSV as an artifact) with ``status``."""
        self.write_csv()
        if self.mlflow is not None:
            self.mlflow.log_artifact(self.csv)
            self.mlflow.end(status)
            self.mlflow = None

    def __enter__(self) -> ExperimentLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close("FINISHED" if exc_type is None else "FAILED")


def _step_of(rec: Mapping[str, Any]) -> float:
    step = rec.get("step")
    return float(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else math.inf


def read_jsonl(path: str | PathLike[str]) -> list[dict[str, Any]]:
    """Records of a ``metrics.jsonl`` file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
