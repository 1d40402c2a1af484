"""Experiment log: one JSON line per record (always), and a CSV of every record (rewritten on close)."""

from __future__ import annotations

import csv
import json
import math
import time
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any


def _plain(v: Any) -> Any:
    if hasattr(v, "item") and callable(v.item):  # numpy / torch scalars
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf
    return v


class ExperimentLog:
    """Append metrics records to ``<run_dir>/metrics.jsonl`` and mirror them in ``metrics.csv``.

    Parameters
    ----------
    run_dir
        Run folder (created).
    name
        File stem (``metrics``).

    Examples
    --------
    >>> with ExperimentLog(tmp_dir) as log:  # doctest: +SKIP
    ...     log.log(step=1, loss=0.7, samples_per_s=120.0)
    """

    def __init__(self, run_dir: str | PathLike[str], name: str = "metrics"):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.dir / f"{name}.jsonl"
        self.csv = self.dir / f"{name}.csv"
        self.records: list[dict[str, Any]] = []
        self._start = time.monotonic()

    def log(self, **values: Any) -> dict[str, Any]:
        """Record ``values`` (plus ``time_s`` since the log opened); the JSON line is flushed at once."""
        rec = {"time_s": round(time.monotonic() - self._start, 6), **{k: _plain(v) for k, v in values.items()}}
        with self.jsonl.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        self.records.append(rec)
        return rec

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

    def close(self) -> None:
        """Write the CSV."""
        self.write_csv()

    def __enter__(self) -> ExperimentLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_jsonl(path: str | PathLike[str]) -> list[dict[str, Any]]:
    """Records of a ``metrics.jsonl`` file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
