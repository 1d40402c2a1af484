"""``fastmed convert`` with a labels CSV and ``fastmed verify``, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import fastmed as fm
from fastmed.bench.harness import run_case
from fastmed.bench.registry import get_suite
from fastmed.privacy import keyed_id
from fastmed.synth import ArchiveInfo

from .test_format import assert_no_phi


def test_convert_cli_with_the_archives_labels_csv(tmp_path: Path, archive: ArchiveInfo, manifest: fm.Manifest) -> None:
    """The user's path: index, then convert with the archive's labels.csv (UID-keyed, NIfTI masks)."""
    man_path = tmp_path / "manifest.parquet"
    manifest.to_parquet(man_path)
    labels = Path(archive.root) / "labels.csv"
    out = tmp_path / "cli.zarr"
    cmd = [sys.executable, "-m", "fastmed", "convert", str(man_path), "-o", str(out), "--labels", str(labels)]
    r = subprocess.run([*cmd, "--workers", "1", "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{len(manifest.valid)} converted, 0 up to date" in r.stdout
    truth = {keyed_id(se.series_uid): se for st in archive.studies for se in st.series}
    joined = fm.annotate(manifest, labels, how="left")
    s = fm.open_store(out)
    masks = 0
    for row in manifest.valid:
        t, a = s.row(row.series_id), joined.annotations[row.series_id]
        assert t["classes"] == {k: None if np.isnan(v) else v for k, v in a.labels.items()}
        report = (Path(archive.root) / truth[row.series_id].report).read_text()
        assert t["report"] == (a.report or "") == report
        if a.mask:
            masks += 1
            want = np.load(Path(archive.root) / truth[row.series_id].labels).reshape(row.shape)
            np.testing.assert_array_equal(s.read(row.series_id, "label"), want)
    assert masks == len(manifest.valid)
    assert_no_phi(out, archive)
    r = subprocess.run([*cmd, "--workers", "1", "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and f"0 converted, {len(manifest.valid)} up to date" in r.stdout
    v = subprocess.run([sys.executable, "-m", "fastmed", "verify", str(out)], capture_output=True, text=True)
    assert v.returncode == 0 and "OK" in v.stdout


def test_store_bench_suite_runs() -> None:
    from fastmed.bench.suites import store as suite

    try:
        cases = get_suite("store")(size="tiny", threads=(1, 2))
        assert len(cases) == 3 and "compression" in cases[0].name  # conversion, then patch reads at 1 and 2 threads
        assert [c.threads for c in cases[1:]] == [1, 2] and all("patch read" in c.name for c in cases[1:])
        res = run_case(cases[0], repeat=1, warmup=0)
    finally:
        suite.shutdown()
    assert {r.impl for r in res} == {"dask-1-worker", "dask-2-workers"}
    assert all(r.items > 0 and r.median_s > 0 for r in res)
