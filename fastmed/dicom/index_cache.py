"""The index's per-file cache: what each file gave (slices or a rejection reason), keyed by size + mtime.

Stored as one Parquet table with a row per slice (or per rejected / image-less file) and a
column per SliceInfo field, so writing and reading are columnar (no per-file JSON). Series
and studies are stored by keyed id only, never by raw UID.

A first index hands most files over as the native parser's columns (:class:`NativeRows`):
their rows are written from those arrays in a few calls, with no per-slice Python.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.dicom.slice_info import SliceInfo

CACHE_VERSION = b"4"  # 3: frames placed by a Grid Frame Offset Vector; 4: study ids, native rows
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
_FILE = {
    "relpath": "string",
    "kind": "int8",
    "size": "int64",
    "mtime_ns": "int64",
    "error": "string",
    "study_id": "string",  # keyed StudyInstanceUID of the file ("" when it has none)
}
_SCHEMA = {
    **_FILE,
    **_SCALARS,
    **{f"{k}_{i}": "float64" for k, n in _VECTORS.items() for i in range(n)},
}


@dataclass(frozen=True)
class NativeRows:
    """Files of one slice each, as the native parser's columns (``core.dicom_slice_facts``) give them.

    Row ``i`` of every field is file ``rels[i]``; ``num`` and ``mask`` follow the layout of
    :mod:`fastmed.dicom.slice_columns`. ``series_ids`` / ``study_ids`` are keyed ids, never raw UIDs.
    """

    rels: list[str]
    sizes: npt.NDArray[np.int64]
    mtimes: npt.NDArray[np.int64]
    num: npt.NDArray[np.float64]
    mask: npt.NDArray[np.uint32]
    series_ids: list[str]
    study_ids: list[str]
    modality: list[str]
    image_type: list[str]  # components joined by '\\' ("" for none)
    transfer_syntax: list[str]


def load(path: Path, base: str) -> dict[str, Entry]:
    """Entries by relative path; ``{}`` when the cache is missing, damaged or of another version.

    `base` is the archive root with a trailing separator: slice paths are ``base + relpath``.
    """
    return load_with_studies(path, base)[0]


def load_with_studies(path: Path, base: str) -> tuple[dict[str, Entry], dict[str, str]]:
    """:func:`load`, and the keyed study id of each file."""
    if not path.exists():
        return {}, {}
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(str(path))
        if (table.schema.metadata or {}).get(b"fastmed.index_cache") != CACHE_VERSION:
            return {}, {}
        cols = table.to_pydict()
    except Exception:  # a damaged cache is only a lost speed-up: rebuild it
        return {}, {}
    out: dict[str, Entry] = {}
    rels, kinds, sizes, mtimes, errors, study_ids = (cols[k] for k in _FILE)
    studies = dict(zip(rels, study_ids, strict=True))
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
    return out, studies


def save(
    path: Path,
    entries: dict[str, Entry],
    studies: dict[str, str] | None = None,
    native: NativeRows | None = None,
) -> None:
    """Write the cache (atomically: a temporary file renamed over the old one).

    Parameters
    ----------
    path
        The cache file.
    entries
        Files as (size, mtime_ns, slices or rejection reason), by relative path.
    studies
        Keyed study id of each file (``""`` where missing).
    native
        More files, as native columns (none of them also in `entries`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parts = [_entries_table(entries, studies or {})]
        if native is not None and native.rels:
            parts.append(_native_table(native))
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        # A value beyond the column types (an absurd Rows, a file name that is not UTF-8):
        # no cache, no failure.
        return
    table = table.replace_schema_metadata({b"fastmed.index_cache": CACHE_VERSION})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp"
    pq.write_table(table, str(tmp))
    os.replace(tmp, path)


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([(k, pa.type_for_alias(t)) for k, t in _SCHEMA.items()])


def _entries_table(entries: dict[str, Entry], studies: dict[str, str]) -> Any:
    """Rows of `entries`, built value by value (rejected files, multi-frame and Python-read files)."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = {k: [] for k in _SCHEMA}
    file_cols = [cols[k] for k in _FILE]
    scalar_cols = [(cols[k], k) for k in _SCALARS if k != "image_type"]
    itype = cols["image_type"]
    vector_cols = [([cols[f"{k}_{i}"] for i in range(n)], k) for k, n in _VECTORS.items()]
    for rel in sorted(entries):
        size, mtime, parsed = entries[rel]
        study = studies.get(rel, "")
        if isinstance(parsed, str) or not parsed:
            kind = _ERROR if isinstance(parsed, str) else _EMPTY
            reason = parsed if isinstance(parsed, str) else None
            for col, v in zip(file_cols, (rel, kind, size, mtime, reason, study), strict=True):
                col.append(v)
            for k in _SCHEMA:
                if k not in _FILE:
                    cols[k].append(None)
            continue
        for s in parsed:
            for col, v in zip(file_cols, (rel, _SLICE, size, mtime, None, study), strict=True):
                col.append(v)
            for col, k in scalar_cols:
                col.append(getattr(s, k))
            itype.append("\\".join(s.image_type) if s.image_type else None)
            for vcols, k in vector_cols:
                vec = getattr(s, k)
                for i, col in enumerate(vcols):
                    col.append(None if vec is None else vec[i])
    schema = _schema()
    return pa.table({k: pa.array(v, type=schema.field(k).type) for k, v in cols.items()}, schema=schema)


def _native_table(rows: NativeRows) -> Any:
    """Rows of native columns, one call per column.

    What :func:`load` reads back equals the records ``core.dicom_make_slice_infos`` builds
    from the same columns.
    """
    import pyarrow as pa

    from fastmed.dicom import slice_columns as f

    n = len(rows.rels)
    num, mask = rows.num, rows.mask

    def ints(col: int) -> Any:
        return pa.array(num[:, col].astype(np.int64))

    def floats(col: int, bit: int = 0) -> Any:
        values = np.ascontiguousarray(num[:, col])
        return pa.array(values, mask=(mask & bit) == 0) if bit else pa.array(values)

    def opt_ints(col: int, bit: int) -> Any:
        absent = (mask & bit) == 0
        return pa.array(np.where(absent, 0.0, num[:, col]).astype(np.int64), mask=absent)

    def texts(values: list[str], empty_is_null: bool = False) -> Any:
        arr = pa.array(values, type=pa.string())
        if empty_is_null:
            import pyarrow.compute as pc

            arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
        return arr

    cols: dict[str, Any] = {
        "relpath": texts(rows.rels),
        "kind": pa.array(np.full(n, _SLICE, dtype=np.int8)),
        "size": pa.array(rows.sizes.astype(np.int64)),
        "mtime_ns": pa.array(rows.mtimes.astype(np.int64)),
        "error": pa.nulls(n, pa.string()),
        "study_id": texts(rows.study_ids),
        "series_uid": texts(rows.series_ids),
        "rows": ints(0),
        "columns": ints(1),
        "frame": pa.array(np.zeros(n, dtype=np.int64)),
        "frames": ints(13),
        "rescale_slope": floats(14),
        "rescale_intercept": floats(15),
        "instance_number": opt_ints(16, f.HAS_INSTANCE),
        "acquisition_number": opt_ints(17, f.HAS_ACQUISITION),
        "image_type": texts(rows.image_type, empty_is_null=True),
        "modality": texts(rows.modality),
        "transfer_syntax": texts(rows.transfer_syntax),
        "slice_thickness": floats(18, f.HAS_THICKNESS),
        "gantry_tilt": floats(19, f.HAS_TILT),
        "samples_per_pixel": ints(20),
    }
    for name, first, count, bit in (
        ("pixel_spacing", 2, 2, f.HAS_SPACING),
        ("orientation", 4, 6, f.HAS_ORIENTATION),
        ("position", 10, 3, f.HAS_POSITION),
    ):
        for i in range(count):
            cols[f"{name}_{i}"] = floats(first + i, bit)
    schema = _schema()
    return pa.table([cols[k] for k in _SCHEMA], schema=schema)
