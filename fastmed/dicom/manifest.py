"""Manifest: one validated row per series of an archive, stored as Parquet.

Rows carry keyed series ids, relative paths, shape, spacing, modality, transfer syntaxes,
validity and problems: never raw UIDs, names, IDs or dates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ManifestRow:
    """One series of an indexed archive.

    Parameters
    ----------
    series_id
        Keyed hash of the SeriesInstanceUID (see :mod:`fastmed.privacy`).
    root
        The archive root the file paths are relative to.
    files
        Relative paths in slice order (sorted along the normal).
    shape
        (z, y, x) of the assembled volume (z = slices; frames for multi-frame files).
    spacing
        (z, y, x) mm; z from ImagePositionPatient differences.
    valid
        True when the series assembles with no problems.
    problems
        Plain sentences naming each irregularity (empty when valid).
    """

    series_id: str
    root: str
    files: tuple[str, ...]
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    modality: str
    transfer_syntaxes: tuple[str, ...]
    valid: bool
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    study_id: str = ""

    @property
    def paths(self) -> list[Path]:
        """Absolute paths of the files, in slice order."""
        return [Path(self.root) / f for f in self.files]

    def __repr__(self) -> str:
        # Short and identifier-free: keyed ids and counts, no file paths.
        spacing = ", ".join(f"{v:.4g}" for v in self.spacing)
        extra = f", problems={len(self.problems)}" if self.problems else ""
        return (
            f"ManifestRow(series_id={self.series_id!r}, study_id={self.study_id!r}, modality={self.modality!r}, "
            f"shape={self.shape}, spacing=({spacing}), files={len(self.files)}, valid={self.valid}{extra})"
        )


@dataclass
class Manifest:
    """The index of an archive: series rows plus the files that are not usable images."""

    root: str
    rows: list[ManifestRow]
    rejected: dict[str, str] = field(default_factory=dict)  # relative path -> reason

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        # Counts only: no file paths (they may name patients), no raw UIDs.
        modalities: dict[str, int] = {}
        for r in self.rows:
            modalities[r.modality] = modalities.get(r.modality, 0) + 1
        return (
            f"Manifest(root={self.root!r}, series={len(self.rows)}, valid={sum(r.valid for r in self.rows)}, "
            f"studies={len({r.study_id for r in self.rows})}, files={sum(len(r.files) for r in self.rows)}, "
            f"rejected={len(self.rejected)}, modalities={dict(sorted(modalities.items()))})"
        )

    def __getitem__(self, i: int) -> ManifestRow:
        return self.rows[i]

    def __iter__(self) -> Iterator[ManifestRow]:
        return iter(self.rows)

    @property
    def valid(self) -> list[ManifestRow]:
        """Rows whose series assemble without problems."""
        return [r for r in self.rows if r.valid]

    def find(self, series_id: str) -> ManifestRow:
        """The row of a keyed series id."""
        for r in self.rows:
            if r.series_id == series_id:
                return r
        raise KeyError(f"series {series_id} is not in the manifest")

    def to_parquet(self, path: str | Path) -> None:
        """Write the manifest as a Parquet table (one row per series; rejects in the metadata)."""
        import pyarrow.parquet as pq

        pq.write_table(self.to_arrow(), str(path))

    def to_arrow(self) -> Any:
        """The manifest as a ``pyarrow.Table``: one row per series, a column per :class:`ManifestRow` field.

        Tuples are list columns; the root, the rejected files (JSON) and the format version are
        in the schema metadata, as :meth:`to_parquet` stores them.
        """
        import pyarrow as pa

        cols: dict[str, list[Any]] = {k: [] for k in ManifestRow.__dataclass_fields__}
        for r in self.rows:
            for k, v in asdict(r).items():
                cols[k].append(list(v) if isinstance(v, tuple) else v)
        table = pa.table(cols) if self.rows else pa.table({k: pa.array([], pa.string()) for k in cols})
        meta = {
            b"fastmed.manifest_version": str(MANIFEST_VERSION).encode(),
            b"fastmed.root": self.root.encode(),
            b"fastmed.rejected": json.dumps(self.rejected).encode(),
        }
        return table.replace_schema_metadata(meta)

    def to_pandas(self) -> Any:
        """The manifest as a ``pandas.DataFrame`` (one row per series; see :meth:`to_arrow`)."""
        return self.to_arrow().to_pandas()

    @classmethod
    def from_parquet(cls, path: str | Path) -> Manifest:
        """Read a manifest written by :meth:`to_parquet`."""
        import pyarrow.parquet as pq

        table = pq.read_table(str(path))
        meta = table.schema.metadata or {}
        version = int(meta.get(b"fastmed.manifest_version", b"0"))
        if version != MANIFEST_VERSION:
            from fastmed.errors import FastmedError

            raise FastmedError(f"{path}: manifest version {version}, expected {MANIFEST_VERSION}")
        rows = []
        for rec in table.to_pylist():
            rec = {k: tuple(v) if isinstance(v, list) else v for k, v in rec.items()}
            rows.append(ManifestRow(**rec))
        return cls(
            root=meta.get(b"fastmed.root", b"").decode(),
            rows=rows,
            rejected=json.loads(meta.get(b"fastmed.rejected", b"{}").decode()),
        )
