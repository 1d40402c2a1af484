"""The index's per-file cache: what each file gave (slices or a rejection reason), keyed by size + mtime.

Stored as one Parquet table with a row per slice (or per rejected / image-less file) and a
column per SliceInfo field, so writing and reading are columnar (no per-file JSON). Series
are stored by keyed id only, never by raw UID.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastmed.dicom.slice_info import SliceInfo

CACHE_VERSION = b"3"  # 3: frames placed by a Grid Frame Offset Vector
_SLICE, _ERROR, _EMPTY = 0, 1, 2  # what a row holds

Parsed = list[SliceInfo] | str  # slices (keyed series ids), or why the file was rejected
Entry = tuple[int, int, Parsed]  # size, mtime_ns, parsed

# Flat columns (no nested lists: they convert to Python slowly). A vector field is its
# components, all null when the field is None; ImageType is its components joined by '\'
# (which no component holds), null for ().
_VECTORS = {"pixel_spacing": 2, "orientation": 6, "position": 3}
_SCALARS = {
    "series_uid": "string",
    "rows": "int64",
    "columns": "int64",
    "frame": "int64",
    "frames": "int64",
    "rescale_slope": "float64",
    "rescale_intercept": "float64",
    "instance_number": "int64",
    "acquisition_number": "int64",
    "image_type": "string",
    "modality": "string",
    "transfer_syntax": "string",
    "slice_thickness": "float64",
    "gantry_tilt": "float64",
    "samples_per_pixel": "int64",
}
_FILE = {"relpath": "string", "kind": "int8", "size": "int64", "mtime_ns": "int64", "error": "string"}
_SCHEMA = {
    **_FILE,
    **_SCALARS,
    **{f"{k}_{i}": "float64" for k, n in _VECTORS.items() for i in range(n)},
}


def load(path: Path, base: str) -> dict[str, Entry]:
    """Entries by relative path; ``{}`` when the cache is missing, damaged or of another version.

    `base` is the archive root with a trailing separator: slice paths are ``base + relpath``.
    """
    if not path.exists():
        return {}
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(str(path))
        if (table.schema.metadata or {}).get(b"fastmed.index_cache") != CACHE_VERSION:
            return {}
        cols = table.to_pydict()
    except Exception:  # a damaged cache is only a lost speed-up: rebuild it
        return {}
    out: dict[str, Entry] = {}
    rels, kinds, sizes, mtimes, errors = (cols[k] for k in _FILE)
    uid, rows_, columns, frame, frames, slope, intercept, inst, acq, itype, mod, ts, thick, tilt, spp = (
        cols[k] for k in _SCALARS
    )
    ps = [cols[f"pixel_spacing_{i}"] for i in range(2)]
    io = [cols[f"orientation_{i}"] for i in range(6)]
    ip = [cols[f"position_{i}"] for i in range(3)]
    types: dict[str | None, tuple[str, ...]] = {None: ()}
    for i, rel in enumerate(rels):
        kind = kinds[i]
        if kind == _ERROR:
            out[rel] = (sizes[i], mtimes[i], errors[i])
            continue
        entry = out.get(rel)
        if entry is None or isinstance(entry[2], str):
            entry = out[rel] = (sizes[i], mtimes[i], [])
        if kind != _SLICE:
            continue
        t = itype[i]
        image_type = types.get(t)
        if image_type is None:
            image_type = types[t] = tuple(t.split("\\"))
        entry[2].append(  # type: ignore[union-attr]
            SliceInfo(
                base + rel,
                uid[i],
                rows_[i],
                columns[i],
                None if ps[0][i] is None else (ps[0][i], ps[1][i]),
                None if io[0][i] is None else tuple(c[i] for c in io),
                None if ip[0][i] is None else (ip[0][i], ip[1][i], ip[2][i]),
                frame[i],
                frames[i],
                slope[i],
                intercept[i],
                inst[i],
                acq[i],
                image_type,
                mod[i],
                ts[i],
                thick[i],
                tilt[i],
                spp[i],
            )
        )
    return out


def save(path: Path, entries: dict[str, Entry]) -> None:
    """Write the cache (atomically: a temporary file renamed over the old one)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, list[Any]] = {k: [] for k in _SCHEMA}
    file_cols = [cols[k] for k in _FILE]
    scalar_cols = [(cols[k], k) for k in _SCALARS if k != "image_type"]
    itype = cols["image_type"]
    vector_cols = [([cols[f"{k}_{i}"] for i in range(n)], k) for k, n in _VECTORS.items()]
    for rel in sorted(entries):
        size, mtime, parsed = entries[rel]
        if isinstance(parsed, str) or not parsed:
            kind = _ERROR if isinstance(parsed, str) else _EMPTY
            reason = parsed if isinstance(parsed, str) else None
            for col, v in zip(file_cols, (rel, kind, size, mtime, reason), strict=True):
                col.append(v)
            for k in _SCHEMA:
                if k not in _FILE:
                    cols[k].append(None)
            continue
        for s in parsed:
            for col, v in zip(file_cols, (rel, _SLICE, size, mtime, None), strict=True):
                col.append(v)
            for col, k in scalar_cols:
                col.append(getattr(s, k))
            itype.append("\\".join(s.image_type) if s.image_type else None)
            for vcols, k in vector_cols:
                vec = getattr(s, k)
                for i, col in enumerate(vcols):
                    col.append(None if vec is None else vec[i])
    try:
        table = pa.table({k: pa.array(v, type=pa.type_for_alias(_SCHEMA[k])) for k, v in cols.items()})
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        # A value beyond the column types (an absurd Rows, a file name that is not UTF-8):
        # no cache, no failure.
        return
    table = table.replace_schema_metadata({b"fastmed.index_cache": CACHE_VERSION})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, str(tmp))
    os.replace(tmp, path)
