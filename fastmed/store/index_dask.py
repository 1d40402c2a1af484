"""``fastmed index --scheduler``: the header walk of a large archive spread over Dask workers.

The driver lists the archive's top level; each Dask task walks one top-level folder (or
reads the files lying at the top level) and parses their headers on one core; the driver
then groups the slices into series exactly as :func:`fastmed.index` does. No per-file cache
is kept on this path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastmed.dicom.index import list_folder
from fastmed.dicom.manifest import Manifest


def parse_part(root: str, part: str | None, files: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Dask task: headers of the files under top-level folder ``part`` (or of ``files`` at the top).

    Returns relative path -> list of slices (keyed series ids) or the reason the file is rejected,
    and relative path -> keyed study id.
    """
    from fastmed.dicom.index import _walk, read_files

    base = str(Path(root)) + os.sep
    rels = files if part is None else [part + os.sep + r for r in _walk(Path(root) / part)]
    return read_files(base, rels, threads=1)


def _top_level(root: Path) -> tuple[list[str], list[str]]:
    """(folders, files) directly under ``root``, with :func:`fastmed.index`'s link rules."""
    subdirs, files = list_folder(str(root))
    return [d.name for d in subdirs], files


def index_on_dask(
    root: str | os.PathLike[str], scheduler: Any = None, workers: int | None = None, progress: bool = False
) -> Manifest:
    """Index ``root`` with one Dask task per top-level folder; the same manifest as :func:`fastmed.index`.

    Parameters
    ----------
    root
        Archive folder; the workers must see it at the same path.
    scheduler, workers
        As for :func:`fastmed.convert` (default: a local cluster sized to the CPU affinity).
    progress
        Show a progress bar over the folders.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    from fastmed.dicom.index import _build_manifest
    from fastmed.store.cluster import dask_client

    rootp = Path(root).resolve()
    if not rootp.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    folders, files = _top_level(rootp)
    parsed: dict[str, Any] = {}
    studies: dict[str, str] = {}
    with dask_client(scheduler, workers) as client:
        futs = [client.submit(parse_part, str(rootp), f, [], pure=False) for f in folders]
        if files:
            futs.append(client.submit(parse_part, str(rootp), None, files, pure=False))
        with tqdm(total=len(futs), unit="folder", desc="index", disable=not progress) as bar:
            for fut in as_completed(futs):
                got, study_ids = fut.result()
                parsed.update(got)
                studies.update(study_ids)
                bar.update(1)
    return _build_manifest(rootp, parsed, studies)
