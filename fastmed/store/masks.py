"""A series' label mask as the store keeps it: on the image grid, in the smallest unsigned type.

Loading and the geometry check are :func:`fastmed.annotations.load_mask` (NIfTI in any axis
order or NumPy, checked against the series grid within its tolerance).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import FastmedError


def label_dtype(mask: npt.NDArray[Any], where: str) -> npt.NDArray[Any]:
    """The mask as the smallest unsigned integer type that holds it exactly (uint8 usually)."""
    if mask.dtype.kind == "b":
        return mask.astype(np.uint8)
    if mask.dtype.kind == "f":
        if not np.all(np.isfinite(mask)) or not np.array_equal(mask, np.round(mask)):
            raise FastmedError(f"{where}: mask holds non-integer values")
    if mask.size and mask.min() < 0:
        return mask.astype(np.int32)
    top = int(mask.max()) if mask.size else 0
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max:
            return mask.astype(dt)
    raise FastmedError(f"{where}: mask values up to {top} do not fit 32 bits")


def load_label(path: str, shape: tuple[int, ...], geometry: dict[str, Any], series_id: str) -> npt.NDArray[Any]:
    """Load the mask at ``path`` onto the series grid (``shape`` and ``geometry``: spacing, origin, direction).

    Raises
    ------
    AnnotationError
        The mask does not fit the grid (a plain error that travels back from Dask workers).
    """
    from fastmed.annotations import AnnotationError, SeriesGrid, load_mask

    where = f"series {series_id}"
    grid = SeriesGrid(
        shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        spacing=(float(geometry["spacing"][0]), float(geometry["spacing"][1]), float(geometry["spacing"][2])),
        origin=(float(geometry["origin"][0]), float(geometry["origin"][1]), float(geometry["origin"][2])),
        direction=np.asarray(geometry["direction"], dtype=np.float64),
    )
    try:
        mask = load_mask(path, grid, series_id=series_id)
    except (OSError, ValueError, FastmedError) as exc:
        raise AnnotationError(f"{where}: mask does not fit the series ({exc})") from None
    return np.ascontiguousarray(label_dtype(mask, where))
