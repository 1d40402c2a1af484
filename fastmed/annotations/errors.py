"""Annotation errors: a table that cannot be joined, a mask that does not fit its series.

Messages name keyed ids (see :mod:`fastmed.privacy`), column names, row numbers and the
paths the user gave, never a raw UID or accession number.
"""

from __future__ import annotations

from fastmed.errors import FastmedError


class AnnotationError(FastmedError):
    """An annotation table cannot be read or joined (missing column, duplicate key, bad value)."""


class MaskGeometryError(AnnotationError):
    """A mask does not lie on its series' voxel grid.

    Parameters
    ----------
    series_id
        Keyed id of the series the mask belongs to.
    differences
        What differs, each a plain sentence (shape, spacing, origin, direction).
    path
        The mask file, as the table gave it.
    """

    def __init__(self, series_id: str, differences: list[str], path: str = ""):
        self.series_id = series_id
        self.differences = list(differences)
        self.path = path
        where = f" ({path})" if path else ""
        super().__init__(f"mask of series {series_id}{where} does not fit the series: " + "; ".join(differences))
