"""The voxel grid of a manifest row, from its headers (no pixels decoded)."""

from __future__ import annotations

import numpy as np

from fastmed.annotations.errors import AnnotationError
from fastmed.annotations.grid import SeriesGrid
from fastmed.dicom.manifest import ManifestRow
from fastmed.privacy import keyed_id


def series_grid(row: ManifestRow, threads: int | None = None) -> SeriesGrid:
    """Return the grid :func:`~fastmed.read_series` gives this row (``on_irregular="allow"``).

    Parameters
    ----------
    row
        A manifest row.
    threads
        Header-reading threads.

    Notes
    -----
    Headers are read again (the manifest keeps shape and spacing, not origin and direction).
    A gantry-tilted stack keeps its sheared z axis, as ``read_series`` does. Projection images
    without patient geometry (CR/DX) get the reader's default grid: origin 0, identity directions.
    """
    from fastmed.dicom.series_geometry import assess_series
    from fastmed.dicom.slice_reader import read_slice_infos_many

    infos = []
    for got in read_slice_infos_many([str(p) for p in row.paths], threads=threads, series_id=keyed_id):
        if isinstance(got, Exception):
            raise AnnotationError(f"series {row.series_id}: cannot read a header ({type(got).__name__})")
        infos += [s for s in got if s.series_uid == row.series_id and s.rows > 0 and s.columns > 0]
    if not infos:
        raise AnnotationError(f"series {row.series_id}: no image headers found in its files")
    geo, problems, _ = assess_series(infos)
    direction = geo.direction.copy()
    spacing_z = float(geo.spacing_z)
    if any(p.kind == "gantry_tilt" for p in problems):
        direction[:, 2] = geo.step / np.linalg.norm(geo.step)
        spacing_z = float(np.linalg.norm(geo.step))
    first = geo.slices[0]
    shape = (len(geo.slices), int(first.rows), int(first.columns))
    sy, sx = geo.spacing_yx
    ox, oy, oz = geo.origin
    return SeriesGrid(shape, (spacing_z, float(sy), float(sx)), (float(ox), float(oy), float(oz)), direction)
