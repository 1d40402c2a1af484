"""``fastmed convert`` with a labels CSV and ``fastmed verify``, as a user runs them."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

import fastmed as fm
from fastmed.bench.harness import run_case
from fastmed.bench.registry import get_suite


def test_convert_cli_with_labels_csv(tmp_path: Path, manifest: fm.Manifest, annotations: dict[str, Any]) -> None:
    man_path = tmp_path / "manifest.parquet"
    manifest.to_parquet(man_path)
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["series_id", "lesion", "report", "mask"])
        for sid, ann in annotations.items():
            w.writerow([sid, ann["classes"]["lesion"], ann["report"], ann["mask"]])
    out = tmp_path / "cli.zarr"
    cmd = [sys.executable, "-m", "fastmed", "convert", str(man_path), "-o", str(out), "--labels", str(labels)]
    r = subprocess.run([*cmd, "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{len(manifest.valid)} converted, 0 up to date" in r.stdout
    s = fm.open_store(out)
    for row in manifest.valid:
        t = s.row(row.series_id)
        ann = annotations[row.series_id]
        assert t["classes"] == {"lesion": ann["classes"]["lesion"]} and t["report"] == ann["report"]
        np.testing.assert_array_equal(s.read(row.series_id, "label").reshape(-1), np.load(ann["mask"]).reshape(-1))
    r = subprocess.run([*cmd, "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and f"0 converted, {len(manifest.valid)} up to date" in r.stdout
    v = subprocess.run([sys.executable, "-m", "fastmed", "verify", str(out)], capture_output=True, text=True)
    assert v.returncode == 0 and "OK" in v.stdout


def test_store_bench_suite_runs() -> None:
    from fastmed.bench.suites import store as suite

    try:
        cases = get_suite("store")(size="tiny", threads=(1, 2))
        assert len(cases) == 1 and "compression" in cases[0].name
        res = run_case(cases[0], repeat=1, warmup=0)
    finally:
        suite.shutdown()
    assert {r.impl for r in res} == {"dask-1-worker", "dask-2-workers"}
    assert all(r.items > 0 and r.median_s > 0 for r in res)
