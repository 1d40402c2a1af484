"""Read an annotation table (CSV, TSV, Parquet, pandas or pyarrow) with its key column kept as text."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastmed.annotations.errors import AnnotationError

TableLike = str | os.PathLike[str] | Any  # a path, a pandas.DataFrame or a pyarrow.Table


def read_table(table: TableLike, key_column: str) -> tuple[Any, Path | None]:
    """Return the table as a ``pyarrow.Table`` whose key column is text, and the folder of its file.

    Parameters
    ----------
    table
        A ``.csv`` / ``.tsv`` / ``.parquet`` path, a ``pandas.DataFrame`` or a ``pyarrow.Table``.
    key_column
        The column holding the join key; read as text so that accession numbers keep their
        leading zeros and UIDs are never parsed as numbers.

    Returns
    -------
    tuple
        The table and the folder relative mask paths resolve against (``None`` for in-memory tables).
    """
    import pyarrow as pa

    folder: Path | None = None
    if isinstance(table, (str, os.PathLike)):
        path = Path(table)
        if not path.is_file():
            raise AnnotationError(f"{path}: annotation table not found")
        folder = path.resolve().parent
        out = _read_file(path, key_column)
    elif isinstance(table, pa.Table):
        out = table
    elif hasattr(table, "to_dict") and hasattr(table, "columns"):  # pandas.DataFrame
        out = pa.Table.from_pandas(table, preserve_index=False)
    else:
        kind = type(table).__name__
        raise AnnotationError(f"annotation table must be a path, a pandas DataFrame or a pyarrow Table, got {kind}")
    if key_column not in out.column_names:
        raise AnnotationError(f"the table has no key column {key_column!r} (columns: {', '.join(out.column_names)})")
    i = out.column_names.index(key_column)
    col = out.column(i)
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        if pa.types.is_floating(col.type):
            raise AnnotationError(f"key column {key_column!r} holds floating-point numbers; store keys as text")
        col = col.cast(pa.string())
    return out.set_column(i, key_column, col), folder


def pick_key(table: TableLike, column: str | None) -> str:
    """The key kind to join on when none is given: the first of ``AUTO_ORDER`` the table has a column for.

    With ``column`` given but no ``on``, the column's name must itself be a key kind.
    """
    from fastmed.annotations.keys import AUTO_ORDER

    if column is not None:
        if column in AUTO_ORDER:
            return column
        raise AnnotationError(f"column {column!r} is not a key kind; pass on= (one of {', '.join(AUTO_ORDER)})")
    names = set(_column_names(table))
    for kind in AUTO_ORDER:
        if kind in names:
            return kind
    raise AnnotationError(f"the table has no key column; name one of {', '.join(AUTO_ORDER)} or pass on= and column=")


def _column_names(table: TableLike) -> list[str]:
    if isinstance(table, (str, os.PathLike)):
        path = Path(table)
        if not path.is_file():
            raise AnnotationError(f"{path}: annotation table not found")
        if path.name.lower().endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            return list(pq.read_schema(str(path)).names)
        import csv
        import gzip

        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", newline="") as f:
            delimiter = "\t" if path.name.lower().endswith(".tsv") else ","
            return next(csv.reader(f, delimiter=delimiter), [])
    return [str(c) for c in (table.column_names if hasattr(table, "column_names") else table.columns)]


def _read_file(path: Path, key_column: str) -> Any:
    import pyarrow as pa

    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            return pq.read_table(str(path))
        if name.endswith((".csv", ".tsv", ".txt", ".csv.gz")):
            from pyarrow import csv

            delimiter = "\t" if name.endswith(".tsv") else ","
            return csv.read_csv(
                str(path),
                parse_options=csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=csv.ConvertOptions(column_types={key_column: pa.string()}),
            )
    except (OSError, pa.ArrowInvalid) as exc:
        # Arrow's message may quote a cell (an identifier): give only its kind.
        raise AnnotationError(f"{path}: cannot read the table ({type(exc).__name__})") from exc
    raise AnnotationError(f"{path}: unknown table format (use .csv, .tsv or .parquet)")
