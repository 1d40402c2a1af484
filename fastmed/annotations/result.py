"""The result of a join: manifest rows with their annotations, and what did not match.

:class:`AnnotatedManifest` is what the store and datasets consume. It is a
:class:`~fastmed.Manifest` (of the joined rows); per series it holds a :class:`SeriesAnnotation`
(class labels, report text, mask path). Only keyed ids are kept: raw UIDs and accession
numbers from the table were hashed on the way in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.annotations.grid import SeriesGrid
from fastmed.annotations.masks import DEFAULT_TOLERANCE, GeometryTolerance, load_mask
from fastmed.dicom.manifest import Manifest


@dataclass(frozen=True)
class SeriesAnnotation:
    """What the table says about one series.

    Parameters
    ----------
    series_id
        Keyed series id (as in the manifest).
    labels
        Class labels by name, in :attr:`AnnotatedManifest.label_names` order: numeric columns
        as given, multi-label columns as 0/1 per class (``"column:class"``); NaN when empty.
    report
        Free-text report, or ``None``.
    mask
        Absolute path of a mask that fits the series' grid, or ``None`` (no mask, or one that
        does not fit: then :attr:`problems` says why).
    problems
        Plain sentences (no identifiers) for what was wrong with this series' annotation.
    table_row
        0-based row of the table this came from.
    """

    series_id: str
    labels: Mapping[str, float]
    report: str | None = None
    mask: str | None = None
    problems: tuple[str, ...] = ()
    table_row: int = -1

    def label_vector(self) -> npt.NDArray[np.float32]:
        """The labels as a float32 vector (NaN for empty cells)."""
        return np.array(list(self.labels.values()), dtype=np.float32)


@dataclass(frozen=True)
class JoinSummary:
    """What matched and what did not (counts, keyed ids and row numbers only).

    Parameters
    ----------
    table_rows
        Rows in the table.
    matched_series
        Series that received an annotation.
    unmatched_rows
        0-based table rows whose key matched no series.
    unmatched_keys
        Keyed ids of those rows' keys (hashes even for ``path`` keys: folder names can identify).
    rows_without_key
        0-based table rows with an empty key cell.
    unannotated_series
        Keyed ids of series no table row matched.
    mask_problems
        Series whose mask did not fit (recorded under ``on_irregular="allow"``).
    """

    table_rows: int
    matched_series: int
    unmatched_rows: tuple[int, ...] = ()
    unmatched_keys: tuple[str, ...] = ()
    rows_without_key: tuple[int, ...] = ()
    unannotated_series: tuple[str, ...] = ()
    mask_problems: int = 0

    def __str__(self) -> str:
        def few(xs: tuple[Any, ...]) -> str:
            return ", ".join(str(x) for x in xs[:5]) + (" ..." if len(xs) > 5 else "")

        lines = [f"{self.matched_series} series annotated from {self.table_rows} table rows"]
        if self.unmatched_rows:
            lines.append(f"{len(self.unmatched_rows)} table rows matched no series (rows {few(self.unmatched_rows)})")
        if self.rows_without_key:
            lines.append(f"{len(self.rows_without_key)} table rows have no key (rows {few(self.rows_without_key)})")
        if self.unannotated_series:
            lines.append(f"{len(self.unannotated_series)} series have no annotation ({few(self.unannotated_series)})")
        if self.mask_problems:
            lines.append(f"{self.mask_problems} masks do not fit their series (see each annotation's problems)")
        return "\n".join(lines)


@dataclass(eq=False, kw_only=True)
class AnnotatedManifest(Manifest):
    """A :class:`~fastmed.Manifest` whose series carry annotations: what ``fm.annotate`` returns.

    It is a manifest (``root``, ``rows``, ``rejected``, iteration, ``find``, ``valid``), so it goes
    wherever a manifest goes; ``rows`` are the joined rows. Per series it adds a
    :class:`SeriesAnnotation`, found with :meth:`annotation`.

    Parameters
    ----------
    root, rows, rejected
        As in :class:`~fastmed.Manifest`; ``rows`` holds annotated series only (``how="inner"``)
        or every series (``"left"``).
    source
        The manifest that was annotated (all its rows).
    annotations
        Series id -> :class:`SeriesAnnotation`, for annotated series.
    label_names
        Names of the class-label vector (same for every series).
    classes
        Multi-label column -> its class list (the recorded multi-hot order).
    on, how
        The join key kind and mode.
    summary
        What did and did not match.
    tolerance
        Geometry tolerance masks were checked with.
    """

    source: Manifest
    annotations: dict[str, SeriesAnnotation]
    label_names: tuple[str, ...]
    classes: dict[str, tuple[str, ...]]
    on: str
    how: str
    summary: JoinSummary
    tolerance: GeometryTolerance = DEFAULT_TOLERANCE
    grids: dict[str, SeriesGrid] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        n_mask = sum(a.mask is not None for a in self.annotations.values())
        return (
            f"AnnotatedManifest({len(self.rows)} series, {len(self.annotations)} annotated, {n_mask} masks, "
            f"labels={list(self.label_names)}, on={self.on!r}, how={self.how!r})"
        )

    def annotation(self, series_id: str) -> SeriesAnnotation | None:
        """The annotation of a series, or ``None``."""
        return self.annotations.get(series_id)

    def label_vector(self, series_id: str) -> npt.NDArray[np.float32]:
        """Class labels of a series as float32 (all NaN for an unannotated series)."""
        a = self.annotations.get(series_id)
        if a is None:
            return np.full(len(self.label_names), math.nan, dtype=np.float32)
        return a.label_vector()

    def grid(self, series_id: str) -> SeriesGrid:
        """The voxel grid of a series (read from its headers once, then kept)."""
        if series_id not in self.grids:
            from fastmed.annotations.series_grid import series_grid

            self.grids[series_id] = series_grid(self.source.find(series_id))
        return self.grids[series_id]

    def load_mask(self, series_id: str) -> npt.NDArray[Any] | None:
        """The mask of a series on its ``(z, y, x)`` grid, or ``None`` when it has no (fitting) mask."""
        a = self.annotations.get(series_id)
        if a is None or a.mask is None:
            return None
        return load_mask(a.mask, self.grid(series_id), series_id=series_id, tolerance=self.tolerance)
