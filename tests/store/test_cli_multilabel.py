"""``fastmed convert --multilabel COLUMN``: the store's classes are those of ``fm.annotate(..., multilabel=COLUMN)``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import fastmed as fm
from fastmed.synth import ArchiveInfo


def test_convert_cli_multilabel_findings(tmp_path: Path, archive: ArchiveInfo, manifest: fm.Manifest) -> None:
    man_path = tmp_path / "manifest.parquet"
    manifest.to_parquet(man_path)
    labels = Path(archive.root) / "labels.csv"
    out = tmp_path / "ml.zarr"
    cmd = [sys.executable, "-m", "fastmed", "convert", str(man_path), "-o", str(out), "--labels", str(labels)]
    r = subprocess.run(
        [*cmd, "--multilabel", "findings", "--workers", "1", "--quiet"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    joined = fm.annotate(manifest, labels, how="left", multilabel="findings")
    s = fm.open_store(out)
    names: set[str] = set()
    for row in manifest.valid:
        t, a = s.row(row.series_id), joined.annotations[row.series_id]
        assert t["classes"] == {k: None if np.isnan(v) else v for k, v in a.labels.items()}
        names |= {k for k in t["classes"] if k.startswith("findings:")}
    assert names  # one 0/1 class per finding
    ds = fm.VolumeDataset(out)
    assert names <= set(ds.label_names)
