"""The source hash of a series: its files (size + mtime), annotation and storage options.

A published series whose recorded hash equals the current one is up to date and skipped.
The hash is keyed (:func:`fastmed.privacy.id_key`), so it reveals nothing about the paths.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from fastmed.dicom.manifest import ManifestRow
from fastmed.privacy import id_key
from fastmed.store.annotations import SeriesAnnotation
from fastmed.store.layout import FORMAT_VERSION, Codec


def file_paths(row: ManifestRow) -> tuple[str, ...]:
    """Absolute paths of a row's files as strings (``row.paths`` without building ``Path`` objects)."""
    return tuple(os.path.join(row.root, f) for f in row.files)


def source_hash(
    row: ManifestRow,
    annotation: SeriesAnnotation,
    chunk_3d: tuple[int, ...],
    codec: Codec,
    paths: tuple[str, ...] | None = None,
) -> str:
    """Keyed SHA-256 (hex) of everything the stored series is made from (``paths``: :func:`file_paths`)."""
    h = hmac.new(id_key(), digestmod=hashlib.sha256)
    h.update(f"v{FORMAT_VERSION}|{row.series_id}|{row.shape}|{chunk_3d}|{codec}\n".encode())
    for rel, p in zip(row.files, file_paths(row) if paths is None else paths, strict=True):
        st = os.stat(p)
        h.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(annotation.fingerprint().encode())
    return h.hexdigest()
