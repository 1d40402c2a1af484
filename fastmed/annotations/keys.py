"""Join keys: table values hashed on the way in, and the same keys computed for each series.

Raw UIDs and accession numbers are turned into keyed ids (:func:`fastmed.privacy.keyed_id`,
the index's key) as soon as they are read, and only the keyed ids are kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from fastmed.annotations.errors import AnnotationError
from fastmed.dicom.manifest import ManifestRow
from fastmed.privacy import keyed_id

KEY_KINDS = ("StudyInstanceUID", "SeriesInstanceUID", "AccessionNumber", "path", "study_key", "series_key")
"""What ``annotate(on=...)`` accepts."""

AUTO_ORDER = ("SeriesInstanceUID", "series_key", "path", "StudyInstanceUID", "study_key", "AccessionNumber")
"""Without ``on``, the first of these the table has a column for: series-level keys first."""


def _accession_id(value: str) -> str:
    # Domain-separated: an accession number equal to some UID string never meets its key.
    return keyed_id("AccessionNumber", value)


def normalise_path(value: str) -> str:
    """A relative folder path in one spelling: forward slashes, no ``./``, no trailing slash."""
    p = value.strip().replace("\\", "/")
    parts = [x for x in PurePosixPath(p).parts if x not in (".", "")]
    return "/".join(parts).rstrip("/")


def table_key(on: str, value: object, root: str = "") -> str | None:
    """The key of one table cell (``None`` when the cell is empty).

    Parameters
    ----------
    on
        One of :data:`KEY_KINDS`.
    value
        The cell.
    root
        The manifest root: absolute ``path`` values under it are made relative.
    """
    if value is None:
        return None
    text = str(value).strip().strip("\x00").strip()
    if not text:
        return None
    if on in ("StudyInstanceUID", "SeriesInstanceUID"):
        return keyed_id(text)
    if on == "AccessionNumber":
        return _accession_id(text)
    if on in ("study_key", "series_key"):
        return text.lower()
    if on == "path":
        if root and os.path.isabs(text):
            text = os.path.relpath(text, root)
        return normalise_path(text)
    raise ValueError(f"on must be one of {KEY_KINDS}, got {on!r}")


def series_folder(row: ManifestRow) -> str:
    """Relative folder of a series: the common folder of its files."""
    folders = {normalise_path(str(PurePosixPath(f.replace("\\", "/")).parent)) for f in row.files}
    if len(folders) == 1:
        return folders.pop()
    return normalise_path(os.path.commonpath([f.replace("\\", "/") for f in row.files]))


def _header_value(row: ManifestRow, tag: str) -> str | None:
    import pydicom
    from pydicom.errors import InvalidDicomError

    for path in row.paths[:1]:
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=[tag])
        except (OSError, InvalidDicomError) as exc:
            raise AnnotationError(f"{path}: cannot read {tag} ({type(exc).__name__})") from exc
        value = ds.get(tag)
        text = "" if value is None else str(value).strip()
        return text or None
    return None


def series_keys(rows: Iterable[ManifestRow], on: str) -> dict[str, str | None]:
    """Series id -> the key a table row must carry to annotate it (``None``: the series has none).

    ``StudyInstanceUID`` uses ``row.study_id`` when the index filled it, else the first file's
    header (hashed at once); ``AccessionNumber`` always reads the first file's header.
    """
    if on not in KEY_KINDS:
        raise ValueError(f"on must be one of {KEY_KINDS}, got {on!r}")
    get: Callable[[ManifestRow], str | None]
    if on in ("SeriesInstanceUID", "series_key"):
        get = lambda r: r.series_id  # noqa: E731
    elif on == "path":
        get = series_folder
    elif on in ("StudyInstanceUID", "study_key"):

        def get(r: ManifestRow) -> str | None:
            if r.study_id:
                return r.study_id
            uid = _header_value(r, "StudyInstanceUID")
            return None if uid is None else keyed_id(uid)

    else:

        def get(r: ManifestRow) -> str | None:
            acc = _header_value(r, "AccessionNumber")
            return None if acc is None else _accession_id(acc)

    return {r.series_id: get(r) for r in rows}
