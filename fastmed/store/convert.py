"""``fastmed.convert``: a manifest (or archive) into the zarr v3 store, as Dask tasks."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastmed.dicom.manifest import Manifest
from fastmed.errors import CacheError
from fastmed.store import layout
from fastmed.store.annotations import Annotations, annotation_for
from fastmed.store.fingerprint import file_paths, source_hash
from fastmed.store.job import SeriesJob
from fastmed.store.publish import read_record
from fastmed.store.table import write_table

DEFAULT_SLAB = 256
"""Series with more slices than this are written by several tasks, one per z-slab."""


@dataclass
class ConvertResult:
    """What a conversion did (no identifying values: keyed series ids only)."""

    store: str
    converted: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    removed_tmp: int = 0
    slices: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = [f"{len(self.converted)} converted", f"{len(self.up_to_date)} up to date"]
        if self.invalid:
            parts.append(f"{len(self.invalid)} invalid series skipped")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.removed_tmp:
            parts.append(f"{self.removed_tmp} incomplete series from an earlier run removed")
        return ", ".join(parts)


def load_manifest(source: Manifest | str | os.PathLike[str]) -> Manifest:
    """A manifest object, a manifest Parquet file, or an archive folder (indexed now)."""
    if isinstance(source, Manifest):
        return source
    p = Path(source)
    if p.is_dir():
        from fastmed.dicom.index import index

        return index(p)
    if p.is_file():
        return Manifest.from_parquet(p)
    raise FileNotFoundError(f"{source}: neither an archive folder nor a manifest file")


def open_root(store: str | os.PathLike[str]) -> None:
    """Create the store's root group, or check that an existing one is a fastmed store of this version."""
    import zarr

    p = Path(store)
    if p.exists() and not (p / "zarr.json").exists():
        if any(p.iterdir()):
            raise CacheError(f"{p}: exists and is not a fastmed store (no zarr.json); refusing to write into it")
    if (p / "zarr.json").exists():
        attrs = zarr.open_group(str(p), mode="r").attrs.asdict()
        if attrs.get("format_version") != layout.FORMAT_VERSION:
            raise CacheError(
                f"{p}: store format version {attrs.get('format_version')}, expected {layout.FORMAT_VERSION}"
            )
        return
    zarr.open_group(str(p), mode="w", attributes={"format_version": layout.FORMAT_VERSION, "kind": "fastmed.store"})


def _remove_tmp_settled(store: str, tries: int = 10) -> None:
    """Remove temporary groups after a failure, again while cancelled writes still land."""
    from fastmed.store.write import remove_tmp

    for _ in range(tries):
        remove_tmp(store)
        time.sleep(0.1)
        if not layout.tmp_root(store).exists():
            return


def convert(
    source: Manifest | str | os.PathLike[str],
    store: str | os.PathLike[str],
    annotations: Annotations = None,
    *,
    scheduler: Any = None,
    workers: int | None = None,
    chunks: tuple[int, int, int] = layout.CHUNK_3D,
    codec: layout.Codec = layout.DEFAULT_CODEC,
    slab: int = DEFAULT_SLAB,
    progress: bool = True,
) -> ConvertResult:
    """Convert every valid series of a manifest into a checksummed zarr v3 store.

    Parameters
    ----------
    source
        A :class:`~fastmed.Manifest` (an :class:`~fastmed.AnnotatedManifest` brings its
        annotations), a manifest Parquet file, or an archive folder (indexed first).
    store
        The store folder (``cache.zarr``); created if absent, resumed if present.
    annotations
        Per-series class labels, report and mask path: an :class:`~fastmed.AnnotatedManifest`, a
        mapping keyed by series id or a callable on the manifest row (see
        :mod:`fastmed.store.annotations`).
    scheduler
        ``None``: a local Dask cluster sized to the CPU affinity; ``"tcp://host:port"``: an
        existing cluster (workers must see the archive and the store at the same paths); a cluster
        object; or a ``distributed.Client``.
    workers
        Worker processes of the local cluster.
    chunks, codec
        Chunk shape of 3D arrays and compression (defaults chosen by benchmark).
    slab
        Series with more slices than this are split into z-slab tasks.
    progress
        Show a progress bar (tqdm) following the series as they complete.

    Returns
    -------
    ConvertResult
        Converted, up-to-date, invalid and failed series ids; ``str()`` is the summary line.

    Raises
    ------
    CacheError
        The store cannot be written (disk full, permissions, not a fastmed store); series
        published before the error are complete, nothing half-written is published.
    """
    from fastmed.annotations import AnnotatedManifest
    from fastmed.store.annotations import from_annotated

    t0 = time.perf_counter()
    man = load_manifest(source)
    if isinstance(annotations, AnnotatedManifest):
        annotations = from_annotated(annotations)
    elif annotations is None and isinstance(man, AnnotatedManifest):
        annotations = from_annotated(man)
    storep = Path(store).resolve()
    try:
        open_root(storep)
    except OSError as exc:
        raise CacheError(f"{storep}: cannot create the store ({exc.strerror})") from None
    from fastmed.store.write import remove_tmp

    result = ConvertResult(store=str(storep), removed_tmp=remove_tmp(str(storep)))
    records: dict[str, dict[str, Any]] = {}
    jobs: list[SeriesJob] = []
    for row in man:
        if not row.valid:
            result.invalid.append(row.series_id)
            continue
        ann = annotation_for(annotations, row)
        paths = file_paths(row)
        try:
            h = source_hash(row, ann, chunks, codec, paths)
        except OSError as exc:  # the archive changed since it was indexed
            result.failed[row.series_id] = f"source file unreadable ({exc.strerror}); index the archive again"
            continue
        rec = read_record(layout.series_dir(storep, row.series_id))
        if rec is not None and rec.get("source_hash") == h:
            result.up_to_date.append(row.series_id)
            records[row.series_id] = rec
            continue
        jobs.append(
            SeriesJob(
                series_id=row.series_id,
                study_id=row.study_id,
                modality=row.modality,
                paths=paths,
                shape=row.shape,
                store=str(storep),
                source_hash=h,
                annotation=ann,
                chunk_3d=chunks,
                codec=codec,
            )
        )
    if jobs:
        from fastmed.store.run import run_jobs

        try:
            done = run_jobs(jobs, scheduler, workers, slab, progress)
        except CacheError:
            _remove_tmp_settled(str(storep))
            raise
        for sid, rec_or_err in done.items():
            if isinstance(rec_or_err, dict):
                records[sid] = rec_or_err
                result.converted.append(sid)
            else:
                result.failed[sid] = rec_or_err
        result.slices = sum(j.shape[0] for j in jobs if j.series_id in result.converted)
    remove_tmp(str(storep))
    try:
        write_table(storep, list(records.values()))
    except OSError as exc:
        raise CacheError(f"{storep}: writing the store table failed ({exc.strerror})") from None
    result.seconds = time.perf_counter() - t0
    return result


__all__ = ["ConvertResult", "convert", "load_manifest"]
