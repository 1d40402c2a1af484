"""``index_on_dask`` / ``fastmed index --scheduler`` give the same manifest as ``fm.index``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import fastmed as fm
from fastmed.store.index_dask import index_on_dask
from fastmed.synth import ArchiveInfo


def test_same_manifest_as_index(archive: ArchiveInfo, manifest: fm.Manifest, cluster2: Any) -> None:
    (Path(archive.root) / "stray.txt").write_text("not dicom")  # a rejected file at the top level
    try:
        got = index_on_dask(archive.root, cluster2.scheduler_address)
        want = fm.index(archive.root, cache=False)
    finally:
        (Path(archive.root) / "stray.txt").unlink()
    assert got.rows == want.rows and got.rows == manifest.rows
    assert got.rejected == want.rejected and "stray.txt" in got.rejected


def test_index_cli_with_scheduler(tmp_path: Path, manifest: fm.Manifest, cluster1: Any) -> None:
    out = tmp_path / "m.parquet"
    cmd = [sys.executable, "-m", "fastmed", "index", manifest.root, "-o", str(out), "--quiet"]
    r = subprocess.run([*cmd, "--scheduler", cluster1.scheduler_address], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert fm.Manifest.from_parquet(out).rows == manifest.rows
