"""Re-running converts nothing; changed sources and crash leftovers are redone; slab-split series are exact."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import zarr

import fastmed as fm
from fastmed.store import layout


def test_rerun_is_a_no_op_and_says_so(
    tmp_path: Path, store: Path, manifest: fm.Manifest, annotations: Any, cluster1: Any
) -> None:
    copy = tmp_path / "c.zarr"
    shutil.copytree(store, copy)
    res = fm.convert(manifest, copy, annotations, scheduler=cluster1.scheduler_address, progress=False)
    assert res.converted == [] and len(res.up_to_date) == len(manifest.valid)
    assert str(res).startswith(f"0 converted, {len(manifest.valid)} up to date")


def test_changed_file_and_leftovers_are_redone(
    tmp_path: Path, store: Path, manifest: fm.Manifest, annotations: Any, cluster1: Any
) -> None:
    copy = tmp_path / "c.zarr"
    shutil.copytree(store, copy)
    row = manifest.valid[0]
    st = os.stat(row.paths[0])
    os.utime(row.paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    leftover = layout.tmp_root(copy) / "deadbeef.0123"
    (leftover / "image").mkdir(parents=True)
    shutil.rmtree(copy / manifest.valid[1].series_id)  # as if never published
    try:
        res = fm.convert(manifest, copy, annotations, scheduler=cluster1.scheduler_address, progress=False)
    finally:
        os.utime(row.paths[0], ns=(st.st_atime_ns, st.st_mtime_ns))
    assert sorted(res.converted) == sorted([row.series_id, manifest.valid[1].series_id])
    assert res.removed_tmp == 1 and not layout.tmp_root(copy).exists()
    assert fm.verify(copy).ok


def test_slab_split_series_equal_read_series(tmp_path: Path, manifest: fm.Manifest, cluster2: Any) -> None:
    rows = [r for r in manifest.valid if r.shape[0] > 1][:3]
    one = fm.Manifest(manifest.root, rows)
    path = tmp_path / "slab.zarr"
    res = fm.convert(one, path, chunks=(8, 32, 32), slab=8, scheduler=cluster2.scheduler_address, progress=False)
    assert sorted(res.converted) == sorted(r.series_id for r in rows)
    for r in rows:
        vol = fm.read_series(r.paths, series=r.series_id)
        arr = zarr.open_array(str(path / r.series_id / "image"), mode="r")
        assert arr.chunks == (8, 32, 32) and arr.dtype == vol.array.dtype
        np.testing.assert_array_equal(arr[...], vol.array)
        attrs = zarr.open_group(str(path / r.series_id), mode="r").attrs["fastmed"]
        np.testing.assert_allclose(attrs["spacing"], vol.spacing)
        np.testing.assert_allclose(attrs["origin"], vol.origin)
    assert fm.verify(path).ok


def test_missing_source_file_fails_that_series(tmp_path: Path, manifest: fm.Manifest, cluster1: Any) -> None:
    rows = [r for r in manifest.valid if r.shape[0] > 1][:2]
    gone = fm.ManifestRow(**{**rows[0].__dict__, "files": (*rows[0].files[:-1], "no/such/file.dcm")})
    res = fm.convert(
        fm.Manifest(manifest.root, [gone, rows[1]]), tmp_path / "c.zarr", scheduler=cluster1.scheduler_address
    )
    assert res.converted == [rows[1].series_id] and "index the archive again" in res.failed[rows[0].series_id]
