"""The store-level table (``series.parquet`` at the store root): one row per series."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastmed.errors import CacheError
from fastmed.store import layout

STAT_KEYS = ("p0_5", "p99_5", "mean", "std", "min", "max")
COLUMNS = (
    "series_id", "study_id", "modality", "image", "label", "shape", "dtype", "spacing", "origin", "direction",
    "classes", "report", *STAT_KEYS, "foreground", "source_hash",
)  # fmt: skip


def row_of(rec: dict[str, Any]) -> dict[str, Any]:
    """Flatten a series record (group attribute) into a table row; JSON text for nested values."""
    row = {k: rec[k] for k in ("series_id", "study_id", "modality", "image", "label", "dtype", "report", "source_hash")}
    row["shape"] = [int(v) for v in rec["shape"]]
    row["spacing"] = [float(v) for v in rec["spacing"]]
    row["origin"] = [float(v) for v in rec["origin"]]
    row["direction"] = [float(v) for r in rec["direction"] for v in r]
    row["classes"] = json.dumps(rec.get("classes") or {}, sort_keys=True)
    row["foreground"] = json.dumps(rec.get("foreground"))
    row.update({k: float(rec["stats"][k]) for k in STAT_KEYS})
    return row


def write_table(store: str | os.PathLike[str], records: list[dict[str, Any]]) -> Path:
    """Write the table (to a temporary file, then renamed over the old one)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [row_of(r) for r in sorted(records, key=lambda r: r["series_id"])]
    schema = pa.schema(
        [(k, pa.list_(pa.int64()) if k == "shape" else pa.string()) for k in COLUMNS[:6]]
        + [("dtype", pa.string())]
        + [(k, pa.list_(pa.float64())) for k in ("spacing", "origin", "direction")]
        + [("classes", pa.string()), ("report", pa.string())]
        + [(k, pa.float64()) for k in STAT_KEYS]
        + [("foreground", pa.string()), ("source_hash", pa.string())],
        metadata={b"fastmed.format_version": str(layout.FORMAT_VERSION).encode()},
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    path = Path(store) / layout.TABLE
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, str(tmp))
    os.replace(tmp, path)
    return path


def read_table(store: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The table's rows, with ``classes`` and ``foreground`` decoded from JSON."""
    import pyarrow.parquet as pq

    path = Path(store) / layout.TABLE
    try:
        table = pq.read_table(str(path))
    except (OSError, ValueError) as exc:
        raise CacheError(f"{path}: store table unreadable ({type(exc).__name__})") from None
    version = int((table.schema.metadata or {}).get(b"fastmed.format_version", b"0"))
    if version != layout.FORMAT_VERSION:
        raise CacheError(f"{path}: store format version {version}, expected {layout.FORMAT_VERSION}")
    rows = table.to_pylist()
    for r in rows:
        r["classes"] = json.loads(r["classes"])
        r["foreground"] = json.loads(r["foreground"])
    return rows
