"""Per-series annotations handed to :func:`fastmed.store.convert`: class labels, report, mask path.

``annotations`` is ``None``, an :class:`~fastmed.AnnotatedManifest` (what ``fm.annotate``
returns), a mapping ``{keyed series_id: {"classes": {...}, "report": str, "mask": path}}``
(every key optional), or a callable taking a :class:`~fastmed.ManifestRow` and returning such a
dict or ``None``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from fastmed.dicom.manifest import ManifestRow
from fastmed.errors import FastmedError

Annotations: TypeAlias = Mapping[str, Mapping[str, Any]] | Callable[[ManifestRow], Mapping[str, Any] | None] | None


@dataclass(frozen=True)
class SeriesAnnotation:
    """The annotation of one series, normalised.

    Parameters
    ----------
    classes
        Class labels (name -> JSON scalar or list), stored in the group attributes and the table.
    report
        Free-text report.
    mask
        Absolute path of a NIfTI or ``.npy`` label mask, or ``None``.
    """

    classes: dict[str, Any] = field(default_factory=dict)
    report: str = ""
    mask: str | None = None

    def fingerprint(self) -> str:
        """Canonical text of the annotation (mask by size and mtime), part of the series' source hash."""
        mask = None
        if self.mask is not None:
            st = os.stat(self.mask)
            mask = [self.mask, st.st_size, st.st_mtime_ns]
        return json.dumps([self.classes, self.report, mask], sort_keys=True, default=str)


def from_annotated(am: Any) -> dict[str, dict[str, Any]]:
    """The per-series records of an :class:`~fastmed.AnnotatedManifest` (empty labels become ``None``)."""
    out = {}
    for sid, a in am.annotations.items():
        classes = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in a.labels.items()}
        out[sid] = {"classes": classes, "report": a.report or "", "mask": a.mask}
    return out


def annotation_for(annotations: Annotations, row: ManifestRow) -> SeriesAnnotation:
    """Look up and normalise the annotation of ``row`` (empty when there is none)."""
    if annotations is None:
        return SeriesAnnotation()
    rec = annotations(row) if callable(annotations) else annotations.get(row.series_id)
    if rec is None:
        return SeriesAnnotation()
    unknown = set(rec) - {"classes", "report", "mask"}
    if unknown:
        raise FastmedError(f"series {row.series_id}: unknown annotation keys {sorted(unknown)}")
    classes = dict(rec.get("classes") or {})
    try:
        json.dumps(classes)
    except TypeError as exc:
        raise FastmedError(f"series {row.series_id}: class labels are not JSON values ({exc})") from None
    mask = rec.get("mask")
    if mask is not None and str(mask) != "":
        p = Path(mask)
        if not p.is_absolute():
            p = Path(row.root) / p
        if not p.is_file():
            raise FastmedError(f"series {row.series_id}: mask file {p} not found")
        mask = str(p)
    else:
        mask = None
    return SeriesAnnotation(
        classes={str(k): v for k, v in classes.items()}, report=str(rec.get("report") or ""), mask=mask
    )
