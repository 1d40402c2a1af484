"""Split-series tasks run in-process: a slab whose dtype differs from the plan's switches the series to float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

import fastmed as fm
from fastmed.store import layout, slabs
from fastmed.store.annotations import SeriesAnnotation
from fastmed.store.convert import open_root
from fastmed.store.job import SeriesJob


def test_dtype_fallback_to_float32(tmp_path: Path, manifest: fm.Manifest) -> None:
    row = next(r for r in manifest.valid if r.shape[0] > 1)
    store = tmp_path / "s.zarr"
    open_root(store)
    job = SeriesJob(
        row.series_id, "", row.modality, tuple(map(str, row.paths)), row.shape, str(store), "h",
        SeriesAnnotation(), (8, 32, 32), layout.DEFAULT_CODEC,
    )  # fmt: skip
    ranges = job.slabs(8)
    assert len(ranges) == row.shape[0] // 8
    plan = slabs.plan_series(job)
    vol = fm.read_series(row.paths, series=row.series_id)
    assert plan["dtype"] == str(vol.array.dtype)
    np.testing.assert_allclose(plan["spacing"], vol.spacing)
    other = {**plan, "dtype": "int8" if vol.array.dtype != np.int8 else "int16"}  # a plan the slabs contradict
    oks = [slabs.write_slab(job, other, z0, z1) for z0, z1 in ranges]
    assert not any(oks)
    rec = slabs.finish_series(job, other, *oks)
    arr = zarr.open_array(str(store / row.series_id / "image"), mode="r")
    assert arr.dtype == np.float32 and rec["dtype"] == "float32"
    np.testing.assert_array_equal(arr[...], vol.array.astype(np.float32))
    assert slabs.finish_series(job, other, *oks) == rec  # a retried finish returns the published record


def test_plan_rerun_keeps_written_slabs(tmp_path: Path, manifest: fm.Manifest) -> None:
    """A plan task recomputed after its worker died must not hand the finish task an empty group."""
    row = next(r for r in manifest.valid if r.shape[0] > 1)
    store = tmp_path / "s.zarr"
    open_root(store)
    job = SeriesJob(
        row.series_id, "", row.modality, tuple(map(str, row.paths)), row.shape, str(store), "h" * 64,
        SeriesAnnotation(), (8, 32, 32), layout.DEFAULT_CODEC,
    )  # fmt: skip
    plan = slabs.plan_series(job)
    oks = [slabs.write_slab(job, plan, z0, z1) for z0, z1 in job.slabs(8)]
    again = slabs.plan_series(job)  # the recomputed plan
    assert again["tmp"] == plan["tmp"]
    slabs.finish_series(job, again, *oks)
    arr = zarr.open_array(str(store / row.series_id / "image"), mode="r")
    np.testing.assert_array_equal(arr[...], fm.read_series(row.paths, series=row.series_id).array)
