"""Split series: a plan task, z-slab tasks writing disjoint chunks, and a finish task.

Used for series with more slices than the conversion's ``slab`` (see
:meth:`fastmed.store.job.SeriesJob.slabs`); small series are one :func:`convert_series` task.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from fastmed.errors import SeriesError
from fastmed.store import layout
from fastmed.store.job import SeriesJob
from fastmed.store.write import (
    already_published,
    create_array,
    create_group,
    finish,
    guard,
    read_part,
    single_threaded,
    write_region,
)


def plan_series(job: SeriesJob) -> dict[str, Any]:
    """First task of a split series: geometry from all headers and the image dtype, then the group.

    The dtype follows :func:`fastmed.read_series`: with one slope/intercept for all slices it is
    the dtype of the first slice read alone (stored type, or int16 HU when exact); a slab whose
    values need another type switches the series to float32 in :func:`finish_series`. Several
    slopes/intercepts give float32.
    """
    from fastmed.dicom.series_geometry import assess_series
    from fastmed.dicom.slice_reader import read_slice_infos_many

    single_threaded()
    infos = []
    for h in read_slice_infos_many(list(job.paths), threads=1):
        if isinstance(h, Exception):
            raise h
        infos += [s for s in h if s.rows > 0 and s.columns > 0]
    geo, problems, _ = assess_series(infos)
    if problems:
        raise SeriesError([p.message for p in problems], where=f"series {job.series_id}")
    pairs = {(s.rescale_slope, s.rescale_intercept) for s in infos}
    # One decoded slice gives the dtype read_series picks (stored type, int16 HU or float32).
    dtype = str(read_part(job, 0, 1).array.dtype) if len(pairs) == 1 else "float32"
    return {
        "tmp": create_group(job, dtype, shared=True),
        "dtype": dtype,
        "spacing": [float(geo.spacing_z), *map(float, geo.spacing_yx)],
        "origin": [float(v) for v in geo.origin],
        "direction": np.asarray(geo.direction, dtype=np.float64).tolist(),
    }


def write_slab(job: SeriesJob, plan: dict[str, Any], z0: int, z1: int) -> bool:
    """Read slices ``[z0, z1)`` and write them; False when their dtype differs from the plan's (not written)."""
    single_threaded()
    data = read_part(job, z0, z1).array
    if data.dtype != np.dtype(plan["dtype"]):
        return False
    write_region(plan["tmp"], layout.IMAGE, data, z0, job)
    return True


def finish_series(job: SeriesJob, plan: dict[str, Any], *slabs_ok: bool) -> dict[str, Any]:
    """Last task of a split series: fall back to float32 if a slab asked for it, then verify and publish."""
    single_threaded()
    done = already_published(job)
    if done is not None:
        return done
    tmp = plan["tmp"]
    if not all(slabs_ok):
        import zarr

        shutil.rmtree(Path(tmp) / layout.IMAGE, ignore_errors=True)
        try:
            create_array(zarr.open_group(tmp, mode="r+"), layout.IMAGE, job.shape, np.dtype(np.float32), job)
        except OSError as exc:
            raise guard(job, Path(tmp), exc) from None
        for z0, z1 in _ranges(job.shape[0], job.chunk_3d[0]):
            write_region(tmp, layout.IMAGE, read_part(job, z0, z1).array, z0, job)
    geometry = {k: plan[k] for k in ("spacing", "origin", "direction")}
    return finish(job, tmp, geometry)


def _ranges(n: int, step: int) -> list[tuple[int, int]]:
    edges = list(range(0, n, max(2, step))) + [n]
    return list(zip(edges[:-1], edges[1:], strict=True))
