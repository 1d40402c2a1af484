"""Which table columns become class labels, multi-label classes, report text and mask paths."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastmed.annotations.errors import AnnotationError

IDENTIFYING_COLUMNS = frozenset(
    c.lower()
    for c in (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "AccessionNumber",
        "PatientID",
        "PatientName",
        "PatientBirthDate",
        "StudyDate",
        "StudyID",
        "study_key",
        "series_key",
        "path",
    )
)
"""Never taken as labels, even when numeric (a numeric PatientID is still an identifier)."""

MultiLabelSpec = str | Sequence[str] | Mapping[str, Sequence[str]] | None


@dataclass(frozen=True)
class ColumnPlan:
    """The columns a join reads, by role.

    Parameters
    ----------
    labels
        Numeric columns, one class label each (binary 0/1, counts or scores).
    classes
        Multi-label column -> its class list, in multi-hot order.
    report
        The free-text report column, if any.
    mask
        The mask-path column, if any.
    sep
        Separator of label names inside a multi-label cell.
    """

    labels: tuple[str, ...]
    classes: dict[str, tuple[str, ...]]
    report: str | None
    mask: str | None
    sep: str = ";"

    @property
    def label_names(self) -> tuple[str, ...]:
        """Names of the label vector: numeric columns, then ``"column:class"`` per multi-label class."""
        return self.labels + tuple(f"{c}:{k}" for c, ks in self.classes.items() for k in ks)

    def row_labels(self, record: Mapping[str, Any]) -> dict[str, float]:
        """The label vector of one table row as name -> value (NaN when the cell is empty)."""
        out: dict[str, float] = {}
        for c in self.labels:
            v = record.get(c)
            out[c] = math.nan if v is None else float(v)
        for c, ks in self.classes.items():
            cell = record.get(c)
            if cell is None:
                out.update({f"{c}:{k}": math.nan for k in ks})
                continue
            names = _split(str(cell), self.sep)
            unknown = names - set(ks)
            if unknown:
                raise AnnotationError(f"column {c!r}: {len(unknown)} label name(s) not in its class list {list(ks)}")
            out.update({f"{c}:{k}": float(k in names) for k in ks})
        return out


def _split(cell: str, sep: str) -> set[str]:
    return {p.strip() for p in cell.split(sep) if p.strip()}


def _is_numeric(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t))


def plan_columns(
    table: Any,
    key_column: str,
    *,
    labels: Sequence[str] | str | None,
    multilabel: MultiLabelSpec,
    report: str | None,
    mask: str | None,
    sep: str,
) -> ColumnPlan:
    """Decide the role of each column.

    ``labels="auto"`` takes every numeric column that is not the key, not a known identifier
    (:data:`IDENTIFYING_COLUMNS`) and not otherwise used; ``report``/``mask`` default to the
    columns named ``report``/``mask`` when present. Other columns are not read.
    """
    names = list(table.column_names)
    schema = {n: table.schema.field(n).type for n in names}

    def need(c: str, role: str) -> str:
        if c not in schema:
            raise AnnotationError(f"{role} column {c!r} is not in the table (columns: {', '.join(names)})")
        return c

    report_c = need(report, "report") if report else None
    mask_c = need(mask, "mask") if mask else None
    if isinstance(multilabel, str):
        multilabel = [multilabel]
    classes: dict[str, tuple[str, ...]] = {}
    if isinstance(multilabel, Mapping):
        for c, ks in multilabel.items():
            need(c, "multi-label")
            classes[c] = tuple(dict.fromkeys(str(k) for k in ks))
    elif multilabel:
        for c in multilabel:
            need(c, "multi-label")
            found: set[str] = set()
            for cell in table.column(c).to_pylist():
                if cell is not None:
                    found |= _split(str(cell), sep)
            classes[c] = tuple(sorted(found))
    used = {key_column, report_c, mask_c, *classes}
    if labels == "auto":
        label_cols = tuple(
            n for n in names if n not in used and n.lower() not in IDENTIFYING_COLUMNS and _is_numeric(schema[n])
        )
    else:
        label_cols = tuple(need(c, "label") for c in ([labels] if isinstance(labels, str) else labels or ()))
        for c in label_cols:
            if not _is_numeric(schema[c]):
                raise AnnotationError(f"label column {c!r} is not numeric; give names as multilabel={c!r}")
    plan = ColumnPlan(label_cols, classes, report_c, mask_c, sep)
    dup = [n for n in set(plan.label_names) if plan.label_names.count(n) > 1]
    if dup:
        raise AnnotationError(f"label names used twice: {sorted(dup)}")
    return plan
