"""Manifest, ManifestRow and Volume for people: short reprs, and arrow/pandas tables equal to the parquet round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fastmed.dicom import read_series
from fastmed.dicom.index import index
from fastmed.dicom.manifest import Manifest
from fastmed.synth import generate_archive
from fastmed.volume import Volume


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    root = tmp_path_factory.mktemp("man")
    generate_archive(root, 6, 5)
    return index(root, cache=False)


def test_reprs_are_short_and_name_no_file(manifest: Manifest) -> None:
    text = repr(manifest)
    assert len(text) < 300
    assert f"series={len(manifest)}" in text and f"rejected={len(manifest.rejected)}" in text
    files = [f for r in manifest for f in r.files] + list(manifest.rejected)
    for row in manifest:
        r = repr(row)
        assert len(r) < 300 and row.series_id in r and row.study_id in r and str(row.shape) in r
        assert not any(f in r for f in files)
    assert not any(f in text for f in files)
    vol = read_series(manifest.valid[0].paths)
    v = repr(vol)
    assert len(v) < 200 and str(vol.shape) in v and str(vol.array.dtype) in v
    assert not any(str(p) in v for p in vol.meta["files"])


def test_volume_repr_without_meta() -> None:
    v = Volume(np.zeros((2, 3, 4), np.int16), (2.5, 0.5, 0.5))
    assert repr(v) == "Volume(shape=(2, 3, 4), dtype=int16, spacing=(2.5, 0.5, 0.5))"


def test_arrow_and_pandas_equal_the_parquet_round_trip(manifest: Manifest, tmp_path: Path) -> None:
    out = tmp_path / "m.parquet"
    manifest.to_parquet(out)
    stored = pq.read_table(str(out))
    table = manifest.to_arrow()
    assert table.equals(stored) and table.schema.metadata == stored.schema.metadata
    df = manifest.to_pandas()
    want = stored.to_pandas()
    assert list(df.columns) == list(want.columns) and len(df) == len(manifest)
    for col in df.columns:
        assert [_plain(v) for v in df[col]] == [_plain(v) for v in want[col]]
    assert list(df["series_id"]) == [r.series_id for r in manifest]
    assert [tuple(s) for s in df["shape"]] == [r.shape for r in manifest]


def _plain(v: object) -> object:
    return v.tolist() if isinstance(v, np.ndarray) else v
