"""``index``: walk an archive with parallel header reads, one validated manifest row per series.

Broken and non-DICOM files are recorded with their reason and never stop the walk.
Re-indexing reuses the headers of files whose size and mtime are unchanged.

A first index keeps to the critical path: the native parse (columns), one array pass that
proves most series regular (:mod:`fastmed.dicom.clean_series`; the others go through
``assess_series``), and the rows. The re-index cache is written from the native columns by a
background thread once the manifest is built (:func:`wait_for_cache_writes`).
"""

from __future__ import annotations

import _thread
import atexit
import dataclasses
import operator
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fastmed.dicom import _pool, index_cache
from fastmed.dicom.clean_series import clean_stacks
from fastmed.dicom.manifest import Manifest, ManifestRow
from fastmed.dicom.series_geometry import Problem, assess_series
from fastmed.dicom.slice_info import SliceInfo
from fastmed.errors import DicomError
from fastmed.privacy import keyed_id

HeaderReader = Callable[[str], list[SliceInfo]]
CHUNK = 512  # files per native batch (progress granularity)


def default_cache_dir() -> Path:
    """Where per-archive file caches live (``FASTMED_CACHE_DIR`` or ``~/.cache/fastmed``)."""
    return Path(os.environ.get("FASTMED_CACHE_DIR", Path.home() / ".cache" / "fastmed")) / "index"


_name = operator.attrgetter("name")


def list_folder(folder: str) -> tuple[list[os.DirEntry[str]], list[str]]:
    """(sub-folders, file names) directly in `folder`, sorted by name, with the index's link rules.

    Symbolic links to folders are not followed; links to nothing are left out; an unreadable
    folder lists as empty.
    """
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=_name)
    except OSError:
        return [], []
    subdirs, files = [], []
    for e in entries:
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if not e.is_symlink():
                subdirs.append(e)
        elif not e.is_symlink() or os.path.exists(e.path):
            files.append(e.name)
    return subdirs, files


def _walk(root: Path) -> list[str]:
    """Relative paths of the files under `root`, folders and names sorted (as ``os.walk`` lists them).

    Nothing is stat-ed here: the native reader returns size and mtime of the files it opens.
    """
    out: list[str] = []

    def visit(folder: str, prefix: str) -> None:
        subdirs, files = list_folder(folder)
        out.extend(prefix + name for name in files)
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
        for the default location under :func:`default_cache_dir`, ``False`` for none. It is
        written in a background thread (see :func:`wait_for_cache_writes`).
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
    from fastmed.dicom.slice_reader import read_slice_infos, read_slice_infos_columns

    rootp = Path(root).resolve()
    if not rootp.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    wait_for_cache_writes()  # a cache being written (perhaps this one) is complete before it is read
    reader = header_reader or read_slice_infos
    cache_path: Path | None
    if cache is False:
        cache_path = None
    elif cache is None or cache is True:
        cache_path = default_cache_dir() / f"{keyed_id(str(rootp))}.parquet"
    else:
        cache_path = Path(cache)
    base = str(rootp) + os.sep
    old, old_studies = index_cache.load_with_studies(cache_path, base) if cache_path else ({}, {})

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

    workers = _pool.workers(threads, 1 << 30)
    chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="index", unit="file")
    fresh: dict[str, Parsed] = {}
    studies: dict[str, str] = {}  # keyed StudyInstanceUID of each file read now
    natives: list[index_cache.NativeRows] = []  # files whose cache rows are the native columns
    for chunk in chunks:
        if header_reader is None:  # one native batch: the parse runs in the C++ pool, GIL released
            got, cols = read_slice_infos_columns([base + r for r in chunk], threads=workers, series_id=keyed_id)
            natives.append(_take_native(chunk, got, cols, fresh, studies, stats, base))
        else:
            for rel, res in zip(chunk, _pool.map_chunks(read_one, chunk, workers), strict=True):
                fresh[rel] = _parsed(res)
                if not isinstance(res, Exception):
                    studies[rel] = _study_id(base + rel)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    if old:
        parsed = {rel: fresh[rel] if rel in fresh else old[rel][2] for rel in rels_all}
        study_of = {rel: studies[rel] if rel in fresh else old_studies.get(rel, "") for rel in rels_all}
    else:
        parsed, study_of = fresh, studies
    manifest = _build_manifest(rootp, parsed, study_of)
    if cache_path and (fresh or len(old) != len(rels_all)):
        # Written after the manifest is built, in the background: not on the way to the manifest.
        _save_in_background(
            cache_path, lambda: _cache_entries(rootp, rels_all, stats, parsed, natives), study_of, natives
        )
    return manifest


def _take_native(
    chunk: list[str],
    got: list[list[SliceInfo] | Exception],
    cols: dict[str, Any],
    fresh: dict[str, Parsed],
    studies: dict[str, str],
    stats: dict[str, tuple[int, int]],
    base: str,
) -> index_cache.NativeRows:
    """Record one native batch; return the files the cache stores as columns.

    Parsed files and study ids go into `fresh` / `studies`, and (size, mtime) of the files the
    cache stores value by value into `stats`.
    """
    from fastmed.dicom.slice_columns import OK

    status = cols["status"]
    uids = cols["study_uid"]
    simple = (status == OK) & (cols["num"][:, 13] == 1)  # one record, made from these columns
    sizes, mtimes = cols["size"].tolist(), cols["mtime_ns"].tolist()
    for i in np.flatnonzero(~simple).tolist():
        rel, res = chunk[i], got[i]
        fresh[rel] = _reason(res) if isinstance(res, Exception) else res
        if not isinstance(res, Exception):
            # Read through another path (deflated, enhanced, an unusual VR): the study UID too.
            studies[rel] = (keyed_id(uids[i]) if uids[i] else "") if status[i] == OK else _study_id(base + rel)
        if sizes[i] >= 0 and rel not in stats:
            stats[rel] = (sizes[i], mtimes[i])
    idx = np.flatnonzero(simple)
    keep = idx.tolist()
    rels = [chunk[i] for i in keep]
    keyed = {u: keyed_id(u) if u else "" for u in set(uids)}
    study_ids = [keyed[uids[i]] for i in keep]
    for i, rel, sid in zip(keep, rels, study_ids, strict=True):
        fresh[rel] = got[i]  # type: ignore[assignment]  # records where the status is Ok
        studies[rel] = sid
    pick = _picker(keep)
    return index_cache.NativeRows(
        rels=rels,
        sizes=cols["size"][idx],
        mtimes=cols["mtime_ns"][idx],
        num=cols["num"][idx],
        mask=cols["mask"][idx],
        series_ids=[got[i][0].series_uid for i in keep],  # type: ignore[index]
        study_ids=study_ids,
        modality=pick(cols["modality"]),
        image_type=pick(cols["image_type"]),
        transfer_syntax=pick(cols["transfer_syntax"]),
    )


def _picker(keep: list[int]) -> Callable[[list[str]], list[str]]:
    def pick(values: list[str]) -> list[str]:
        return [values[i] for i in keep]

    return pick


def _study_id(path: str) -> str:
    """Keyed StudyInstanceUID of a file read outside the native batch ("" when it has none or cannot be read)."""
    from fastmed.dicom.header import read_header

    try:
        uid = read_header(path, ["StudyInstanceUID"], stop_before_pixels=True).get("StudyInstanceUID", "")
    except (DicomError, OSError):
        try:
            import pydicom

            uid = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["StudyInstanceUID"]).get(
                "StudyInstanceUID", ""
            )
        except Exception:  # pydicom raises many kinds on broken files: no study id, not a failure
            return ""
    return keyed_id(str(uid)) if isinstance(uid, str) and uid else ""


_PENDING: list[threading.Event] = []  # set when a cache write has ended
_PENDING_LOCK = threading.Lock()


def wait_for_cache_writes() -> None:
    """Block until the index caches being written in the background are on disk.

    :func:`index` returns as soon as the manifest is built; its cache is written by a
    background thread, which the next ``index`` call and interpreter exit wait for.
    """
    with _PENDING_LOCK:
        pending = list(_PENDING)
        _PENDING.clear()
    for done in pending:
        done.wait()


def _after_fork_in_child() -> None:
    # The writer threads are not in a forked child: nothing there to wait for.
    global _PENDING_LOCK
    _PENDING_LOCK = threading.Lock()
    _PENDING.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(wait_for_cache_writes)


def _cache_entries(
    root: Path,
    rels: list[str],
    stats: dict[str, tuple[int, int]],
    parsed: dict[str, Parsed],
    natives: list[index_cache.NativeRows],
) -> dict[str, index_cache.Entry]:
    """The files the cache stores value by value (those not in the native columns), with size and mtime."""
    in_columns = {rel for part in natives for rel in part.rels}
    # Files the native reader could not open (and all files of a custom reader) are stat-ed here.
    stats.update(_stat(root, [r for r in rels if r not in stats and r not in in_columns]))
    return {rel: (*stats[rel], parsed[rel]) for rel in rels if rel in stats and rel not in in_columns}


def _save_in_background(
    path: Path,
    entries: Callable[[], dict[str, index_cache.Entry]],
    studies: dict[str, str],
    natives: list[index_cache.NativeRows],
) -> None:
    done = threading.Event()

    def write() -> None:
        try:
            native = natives[0] if len(natives) == 1 else _concat(natives) if natives else None
            index_cache.save(path, entries(), studies, native)
        except (OSError, ValueError):  # pyarrow's errors derive from these
            pass  # an unwritable cache is only a lost speed-up
        finally:
            done.set()

    with _PENDING_LOCK:
        _PENDING.append(done)
    # A bare thread: threading.Thread.start() would wait until the new thread is scheduled,
    # milliseconds on a loaded machine, on the way to returning the manifest.
    _thread.start_new_thread(write, ())


def _concat(parts: list[index_cache.NativeRows]) -> index_cache.NativeRows:
    def cat(name: str) -> Any:
        values = [getattr(p, name) for p in parts]
        if isinstance(values[0], np.ndarray):
            return np.concatenate(values)
        return [v for part in values for v in part]

    return index_cache.NativeRows(**{f.name: cat(f.name) for f in dataclasses.fields(index_cache.NativeRows)})


def read_files(base: str, rels: list[str], threads: int | None = None) -> tuple[dict[str, Parsed], dict[str, str]]:
    """What :func:`index` reads of files ``base + rel`` (one native batch): parsed files and keyed study ids.

    For callers that spread the reading elsewhere (``fastmed.store.index_dask``) and then
    build the manifest with :func:`_build_manifest`.
    """
    from fastmed.dicom.slice_reader import read_slice_infos_columns

    fresh: dict[str, Parsed] = {}
    studies: dict[str, str] = {}
    got, cols = read_slice_infos_columns([base + r for r in rels], threads=threads, series_id=keyed_id)
    _take_native(rels, got, cols, fresh, studies, {}, base)
    return fresh, studies


def _build_manifest(
    root: Path, parsed_files: dict[str, Parsed], studies: dict[str, str] | None = None, *, shortcut: bool = True
) -> Manifest:
    """Group slices into series and assess each.

    Clean series are assessed in one pass over all of them (:mod:`fastmed.dicom.clean_series`);
    ``shortcut=False`` assesses every series one by one.
    """
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
    studies = studies or {}
    items = sorted(by_series.items())
    clean = clean_stacks([g for _, g in items]) if shortcut else [None] * len(items)
    rows = []
    for (sid, slices), stack in zip(items, clean, strict=True):
        if stack is None:
            geo, problems, notes = assess_series(slices)
            spacing = (float(geo.spacing_z), *geo.spacing_yx)
            rows.append(_row(root, base, sid, geo.slices, spacing, problems, notes, studies))
        else:
            spacing = (stack.spacing_z, *stack.spacing_yx)
            rows.append(_row(root, base, sid, stack.slices, spacing, [], [], studies))
    return Manifest(root=str(root), rows=rows, rejected=rejected)


def _row(
    root: Path,
    base: str,
    series_id: str,
    ordered: list[SliceInfo],
    spacing: tuple[float, float, float],
    problems: list[Problem],
    notes: list[Problem],
    studies: dict[str, str],
) -> ManifestRow:
    cut = len(base)
    paths = [s.path for s in ordered]
    if len(set(paths)) == len(paths) and all(p.startswith(base) for p in paths):
        files = [p[cut:] for p in paths]  # the usual series: one file a slice, all under the root
    else:
        files = []
        last = None
        for p in paths:
            if p != last:  # frames of one file are consecutive
                last = p
                rel = p[cut:] if p.startswith(base) else os.path.relpath(p, root)
                if not files or files[-1] != rel:
                    files.append(rel)
    first = ordered[0]
    return ManifestRow(
        series_id=series_id,
        root=str(root),
        files=tuple(files),
        shape=(len(ordered), first.rows, first.columns),
        spacing=spacing,
        modality=first.modality,
        transfer_syntaxes=tuple(sorted({s.transfer_syntax for s in ordered if s.transfer_syntax})),
        valid=not problems,
        problems=tuple(p.message for p in problems),
        notes=tuple(p.message for p in notes),
        study_id=_series_study(files, studies),
    )


def _series_study(files: list[str], studies: dict[str, str]) -> str:
    """The study of a series: the keyed StudyInstanceUID its files carry.

    Should they disagree, the most common one (ties go to the first in slice order).
    """
    ids = [studies.get(f, "") for f in files]
    first = ids[0] if ids else ""
    if all(i == first for i in ids):
        return first
    known = [i for i in ids if i]
    return max(dict.fromkeys(known), key=known.count) if known else ""
