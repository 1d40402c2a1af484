"""``index``: walk an archive with parallel header reads, one validated manifest row per series.

Broken and non-DICOM files are recorded with their reason and never stop the walk.
Re-indexing reuses the headers of files whose size and mtime are unchanged.
"""

from __future__ import annotations

import dataclasses
import operator
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastmed.dicom import index_cache
from fastmed.dicom.manifest import Manifest, ManifestRow
from fastmed.dicom.series_geometry import assess_series
from fastmed.dicom.slice_info import SliceInfo
from fastmed.errors import DicomError
from fastmed.privacy import keyed_id

HeaderReader = Callable[[str], list[SliceInfo]]
CHUNK = 512  # files per native batch (progress granularity)


def default_cache_dir() -> Path:
    """Where per-archive file caches live (``FASTMED_CACHE_DIR`` or ``~/.cache/fastmed``)."""
    return Path(os.environ.get("FASTMED_CACHE_DIR", Path.home() / ".cache" / "fastmed")) / "index"


_name = operator.attrgetter("name")


def _walk(root: Path) -> list[str]:
    """Relative paths of the files under `root`, folders and names sorted (as ``os.walk`` lists them).

    Symbolic links to folders are not followed; links to nothing are left out. Nothing is
    stat-ed here: the native reader returns size and mtime of the files it opens.
    """
    out: list[str] = []

    def visit(folder: str, prefix: str) -> None:
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=_name)
        except OSError:
            return
        subdirs = []
        for e in entries:
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not e.is_symlink():
                    subdirs.append(e)
            elif not e.is_symlink() or os.path.exists(e.path):
                out.append(prefix + e.name)
        for d in subdirs:
            visit(d.path, prefix + d.name + os.sep)

    visit(str(root), "")
    return out


def _stat(root: Path, rels: list[str]) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of the files that can be stat-ed."""
    out = {}
    base = str(root) + os.sep
    for rel in rels:
        try:
            st = os.stat(base + rel)
        except OSError:
            continue
        out[rel] = (st.st_size, st.st_mtime_ns)
    return out


Parsed = index_cache.Parsed  # slices with keyed series ids, or the reason the file was rejected


def _reason(exc: Exception) -> str:
    """Why a file is rejected (no identifiers: DicomError reasons never quote values)."""
    if isinstance(exc, DicomError):
        return exc.reason
    if isinstance(exc, OSError):
        return f"unreadable ({exc.strerror or type(exc).__name__})"
    return f"unreadable ({type(exc).__name__})"


def _parsed(infos: list[SliceInfo] | Exception) -> Parsed:
    """Keep only the keyed id of the series (never the raw UID), or the rejection reason."""
    if isinstance(infos, Exception):
        return _reason(infos)
    return [dataclasses.replace(s, series_uid=keyed_id(s.series_uid)) for s in infos]


def index(
    root: str | os.PathLike[str],
    *,
    threads: int | None = None,
    cache: str | os.PathLike[str] | bool | None = None,
    header_reader: HeaderReader | None = None,
    progress: bool = False,
) -> Manifest:
    """Index every DICOM series under ``root``.

    Parameters
    ----------
    root
        Archive folder, walked recursively.
    threads
        Header-reading threads (default: up to 8, one per CPU).
    cache
        Per-file header cache (size + mtime keyed) for fast re-indexing: a path, ``True``/``None``
        for the default location under :func:`default_cache_dir`, ``False`` for none.
    header_reader
        Override the header reader (default: fastmed's native parser).
    progress
        Show a progress bar (tqdm).

    Returns
    -------
    Manifest
        One row per series (keyed ids, relative paths in slice order, shape, spacing, validity,
        problems) and the rejected files with their reasons.
    """
    from fastmed.dicom.headers import read_slice_infos, read_slice_infos_stat

    rootp = Path(root).resolve()
    if not rootp.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    reader = header_reader or read_slice_infos
    cache_path: Path | None
    if cache is False:
        cache_path = None
    elif cache is None or cache is True:
        cache_path = default_cache_dir() / f"{keyed_id(str(rootp))}.parquet"
    else:
        cache_path = Path(cache)
    base = str(rootp) + os.sep
    old = index_cache.load(cache_path, base) if cache_path else {}

    rels_all = _walk(rootp)
    stats: dict[str, tuple[int, int]] = {}
    if old:
        # Re-indexing: only files whose size or mtime changed are read again.
        stats = _stat(rootp, rels_all)
        rels_all = [r for r in rels_all if r in stats]
        todo = [r for r in rels_all if old.get(r, (None, None))[:2] != stats[r]]
    else:
        todo = rels_all

    def read_one(rel: str) -> list[SliceInfo] | Exception:
        try:
            return reader(str(rootp / rel))
        except (DicomError, OSError) as exc:
            return exc

    workers = threads or min(8, os.cpu_count() or 1)
    chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="index", unit="file")
    fresh: dict[str, Parsed] = {}
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for chunk in chunks:
            if header_reader is None:  # one native batch: the parse runs in the C++ pool, GIL released
                got, sizes, mtimes = read_slice_infos_stat(
                    [base + r for r in chunk], threads=workers, series_id=keyed_id
                )
                for rel, res, size, mtime in zip(chunk, got, sizes.tolist(), mtimes.tolist(), strict=True):
                    fresh[rel] = _reason(res) if isinstance(res, Exception) else res
                    if cache_path is not None and rel not in stats and size >= 0:
                        stats[rel] = (size, mtime)
            else:
                for rel, res in zip(chunk, pool.map(read_one, chunk), strict=True):
                    fresh[rel] = _parsed(res)
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    parsed = {rel: fresh[rel] if rel in fresh else old[rel][2] for rel in rels_all}
    if cache_path and (fresh or len(old) != len(rels_all)):
        # Files the native reader could not open (and all files of a custom reader) are stat-ed here.
        stats.update(_stat(rootp, [r for r in rels_all if r not in stats]))
        index_cache.save(cache_path, {rel: (*stats[rel], parsed[rel]) for rel in rels_all if rel in stats})
    return _build_manifest(rootp, parsed)


def _build_manifest(root: Path, parsed_files: dict[str, Parsed]) -> Manifest:
    rejected: dict[str, str] = {}
    by_series: dict[str, list[SliceInfo]] = {}
    for rel in sorted(parsed_files):
        parsed = parsed_files[rel]
        if isinstance(parsed, str):
            rejected[rel] = parsed
            continue
        if len(parsed) == 1:  # the usual file: one image
            s = parsed[0]
            images = [s] if s.rows > 0 and s.columns > 0 else []
        else:
            images = [s for s in parsed if s.rows > 0 and s.columns > 0]
        if not images:
            rejected[rel] = "DICOM without an image (no Rows/Columns)"
            continue
        for s in images:
            group = by_series.get(s.series_uid)
            if group is None:
                by_series[s.series_uid] = [s]
            else:
                group.append(s)
    base = str(root) + os.sep
    rows = [_row(root, base, sid, slices) for sid, slices in sorted(by_series.items())]
    return Manifest(root=str(root), rows=rows, rejected=rejected)


def _row(root: Path, base: str, series_id: str, slices: list[SliceInfo]) -> ManifestRow:
    geo, problems, notes = assess_series(slices)
    files: list[str] = []
    cut = len(base)
    last = None
    for s in geo.slices:
        p = s.path
        if p != last:  # frames of one file are consecutive
            last = p
            rel = p[cut:] if p.startswith(base) else os.path.relpath(p, root)
            if not files or files[-1] != rel:
                files.append(rel)
    first = geo.slices[0]
    return ManifestRow(
        series_id=series_id,
        root=str(root),
        files=tuple(files),
        shape=(len(geo.slices), first.rows, first.columns),
        spacing=(float(geo.spacing_z), *geo.spacing_yx),
        modality=first.modality,
        transfer_syntaxes=tuple(sorted({s.transfer_syntax for s in geo.slices if s.transfer_syntax})),
        valid=not problems,
        problems=tuple(p.message for p in problems),
        notes=tuple(p.message for p in notes),
    )
