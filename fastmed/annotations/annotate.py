"""``annotate``: join a labels table (CSV, Parquet, pandas, pyarrow) to the series of a manifest."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from fastmed.annotations.columns import MultiLabelSpec, plan_columns
from fastmed.annotations.errors import AnnotationError, MaskGeometryError
from fastmed.annotations.grid import SeriesGrid
from fastmed.annotations.keys import KEY_KINDS, series_keys, table_key
from fastmed.annotations.masks import DEFAULT_TOLERANCE, GeometryTolerance, mask_differences
from fastmed.annotations.result import AnnotatedManifest, JoinSummary, SeriesAnnotation
from fastmed.annotations.series_grid import series_grid
from fastmed.annotations.table import TableLike, pick_key, read_table
from fastmed.dicom.manifest import Manifest, ManifestRow
from fastmed.privacy import keyed_id

log = logging.getLogger("fastmed.annotations")


def annotate(
    manifest: Manifest | str | os.PathLike[str],
    table: TableLike,
    on: str | None = None,
    *,
    how: Literal["inner", "left"] = "inner",
    column: str | None = None,
    labels: Sequence[str] | str | None = "auto",
    multilabel: MultiLabelSpec = None,
    report: str | None = "auto",
    mask: str | None = "auto",
    sep: str = ";",
    mask_root: str | os.PathLike[str] | None = None,
    on_irregular: Literal["raise", "allow"] = "raise",
    tolerance: GeometryTolerance = DEFAULT_TOLERANCE,
    check_masks: bool = True,
) -> AnnotatedManifest:
    """Join an annotation table to the series of a manifest.

    Parameters
    ----------
    manifest
        A :class:`~fastmed.Manifest` (from :func:`fastmed.index`) or the path of one saved as Parquet.
    table
        A CSV / TSV / Parquet path, a ``pandas.DataFrame`` or a ``pyarrow.Table``; one row per
        study or series.
    on
        The key kind (default: the finest one the table has a column for, in the order of
        :data:`~fastmed.annotations.keys.AUTO_ORDER`): ``"StudyInstanceUID"``,
        ``"SeriesInstanceUID"``, ``"AccessionNumber"`` (raw values, hashed with the index's key
        on the way in and never kept), ``"path"`` (folder of the series relative to the archive
        root), or ``"study_key"`` / ``"series_key"`` (already keyed with
        :func:`fastmed.privacy.keyed_id`). A study-level key annotates every series
        of the study.
    how
        ``"inner"``: the result holds annotated series only; ``"left"``: every series.
    column
        The table column holding the key (default: the column named like ``on``).
    labels
        Numeric columns taken as class labels; ``"auto"``: every numeric column other than the
        key, known identifiers and the columns used below.
    multilabel
        Column(s) of ``sep``-separated label names, each turned into a multi-hot vector; the class
        list is recorded (sorted names found in the table), or given as ``{column: [classes]}``.
    report
        Free-text report column (``"auto"``: ``report`` when present).
    mask
        Mask-path column, NIfTI or ``.npy`` (``"auto"``: ``mask`` when present).
    sep
        Separator inside multi-label cells.
    mask_root
        Folder relative mask paths start from (default: the table file's folder, or the
        manifest root for in-memory tables).
    on_irregular
        A mask that does not fit its series' grid: ``"raise"`` raises
        :class:`~fastmed.annotations.MaskGeometryError`; ``"allow"`` drops that mask and records
        the reason in the series' ``problems`` (and the summary's count).
    tolerance
        How close a mask's grid must be (:class:`~fastmed.annotations.GeometryTolerance`).
    check_masks
        Check every mask's header against its series' header geometry now (reads the series'
        headers once).

    Returns
    -------
    AnnotatedManifest
        Rows, per-series :class:`~fastmed.annotations.SeriesAnnotation` and a
        :class:`~fastmed.annotations.JoinSummary` of unmatched rows and unannotated series.

    Raises
    ------
    AnnotationError
        A missing column, several table rows for one key, or an unknown label name.
    """
    if on is not None and on not in KEY_KINDS:
        raise ValueError(f"on must be one of {KEY_KINDS}, got {on!r}")
    if how not in ("inner", "left"):
        raise ValueError(f"how must be 'inner' or 'left', got {how!r}")
    if on_irregular not in ("raise", "allow"):
        raise ValueError(f"on_irregular must be 'raise' or 'allow' for masks, got {on_irregular!r}")
    man = manifest if isinstance(manifest, Manifest) else Manifest.from_parquet(Path(manifest))
    if on is None:
        on = pick_key(table, column)
    key_col = column or on
    tab, folder = read_table(table, key_col)
    names = set(tab.column_names)
    plan = plan_columns(
        tab,
        key_col,
        labels=labels,
        multilabel=multilabel,
        report=("report" if "report" in names else None) if report == "auto" else report,
        mask=("mask" if "mask" in names else None) if mask == "auto" else mask,
        sep=sep,
    )
    base = Path(mask_root) if mask_root is not None else folder if folder is not None else Path(man.root)

    by_key, no_key = _hash_keys(tab.column(key_col).to_pylist(), on, man.root)
    records = tab.select([c for c in tab.column_names if c != key_col]).to_pylist()

    keys = series_keys(man.rows, on)
    annotations: dict[str, SeriesAnnotation] = {}
    used: set[str] = set()
    n_problems = 0
    grids: dict[str, SeriesGrid] = {}
    for row in man.rows:
        k = keys[row.series_id]
        if k is None or k not in by_key:
            continue
        used.add(k)
        i = by_key[k]
        rec = records[i]
        problems: list[str] = []
        mask_path = None
        cell = str(rec.get(plan.mask) or "").strip() if plan.mask else ""
        if cell:
            mask_path = cell if os.path.isabs(cell) else str((base / cell).resolve())
            diffs = _mask_differences(row, mask_path, tolerance, grids, on_irregular) if check_masks else []
            if diffs:
                problems.append(f"mask {mask_path} does not fit: " + "; ".join(diffs))
                mask_path = None
                n_problems += 1
        rep = rec.get(plan.report) if plan.report else None
        annotations[row.series_id] = SeriesAnnotation(
            series_id=row.series_id,
            labels=plan.row_labels(rec),
            report=None if rep is None else str(rep),
            mask=mask_path,
            problems=tuple(problems),
            table_row=i,
        )
    left_over = sorted((i, k) for k, i in by_key.items() if k not in used)
    unmatched = tuple(i for i, _ in left_over)
    unmatched_keys = tuple(keyed_id("path", k) if on == "path" else k for _, k in left_over)
    joined = man.rows if how == "left" else [r for r in man.rows if r.series_id in annotations]
    summary = JoinSummary(
        table_rows=tab.num_rows,
        matched_series=len(annotations),
        unmatched_rows=unmatched,
        unmatched_keys=unmatched_keys,
        rows_without_key=tuple(no_key),
        unannotated_series=tuple(r.series_id for r in man.rows if r.series_id not in annotations),
        mask_problems=n_problems,
    )
    if summary.unmatched_rows or summary.rows_without_key or summary.mask_problems:
        log.warning("annotate: %s", str(summary).replace("\n", "; "))
    return AnnotatedManifest(
        root=man.root,
        rows=list(joined),
        rejected=dict(man.rejected),
        source=man,
        annotations=annotations,
        label_names=plan.label_names,
        classes=dict(plan.classes),
        on=on,
        how=how,
        summary=summary,
        tolerance=tolerance,
        grids=grids,
    )


def _hash_keys(cells: list[object], on: str, root: str) -> tuple[dict[str, int], list[int]]:
    """Key -> table row, and the rows without a key; raw values are hashed here and dropped.

    Raises
    ------
    AnnotationError
        When a key is on several rows (named by keyed id only).
    """
    by_key: dict[str, int] = {}
    no_key: list[int] = []
    dups: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        k = table_key(on, cell, root)
        if k is None:
            no_key.append(i)
        elif k in by_key:
            dups.setdefault(k, [by_key[k]]).append(i)
        else:
            by_key[k] = i
    if dups:
        k, where = next(iter(dups.items()))
        shown = k if on != "path" else keyed_id("path", k)
        raise AnnotationError(
            f"{len(dups)} key(s) appear on several table rows (key {shown} on rows {where[:5]}); "
            "join on a finer key (path or SeriesInstanceUID) or make one row per key"
        )
    return by_key, no_key


def _mask_differences(
    row: ManifestRow, path: str, tolerance: GeometryTolerance, grids: dict[str, SeriesGrid], on_irregular: str
) -> list[str]:
    """What keeps a mask off its series' grid; raises under ``"raise"``, else returns the reasons."""
    try:
        grid = grids[row.series_id] = series_grid(row)
        diffs = mask_differences(path, grid, tolerance)
    except AnnotationError as exc:  # an unreadable mask or series header
        if on_irregular == "raise":
            raise
        return [str(exc)]
    if diffs and on_irregular == "raise":
        raise MaskGeometryError(row.series_id, diffs, path)
    return diffs
