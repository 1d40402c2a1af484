"""Store: conversion of a synthetic archive into the zarr v3 store with 1 and 2 Dask workers.

One unit of work = converting the whole archive (every series: DICOM decode, write, crc32c
re-read, statistics, atomic publish) into a fresh store, on a ``LocalCluster`` of 1 or 2
worker processes with one thread each, started once (cluster start-up is not timed). The
rate is slices per second; the ratio of the ``dask-1-worker`` row to ``dask-2-workers`` is
the scale-out speed-up. The case name carries the compression ratio of the CT series
(raw int16 bytes / bytes on disk, chunk files and metadata).

Sizes (archive of 6 studies: CT, MR, CR, CT, DX, MR): ``tiny`` 24×64×64 volumes,
``small`` 64×256×256, ``full`` 320×512×512. The suite also runs the patch-read cases of
:mod:`fastmed.bench.suites.store_read` (one random R3D patch, read + augment, from the store
and from each peer format) on a one-study archive of the same size.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fastmed.bench.harness import Case, Impl
from fastmed.bench.registry import register_suite

SHAPES = {"tiny": (24, 64, 64), "small": (64, 256, 256), "full": (320, 512, 512)}
_STATE: dict[str, Any] = {}


def _tmp() -> Path:
    if "tmp" not in _STATE:
        tmp = tempfile.TemporaryDirectory(prefix="fastmed-bench-store-")
        _STATE["tmp"] = tmp
        atexit.register(tmp.cleanup)
    return Path(_STATE["tmp"].name)


def _archive(size: str) -> Any:
    key = f"manifest-{size}"
    if key not in _STATE:
        import fastmed as fm
        from fastmed.synth import generate_archive

        root = _tmp() / f"archive-{size}"
        generate_archive(root, studies=6, seed=3, shape=SHAPES[size], transfer_syntaxes=["explicit"])
        _STATE[key] = fm.index(root, cache=False)
    return _STATE[key]


def _cluster(workers: int) -> str:
    key = f"cluster-{workers}"
    if key not in _STATE:
        from fastmed.store.cluster import local_cluster

        cluster = local_cluster(workers)
        _STATE[key] = cluster
        atexit.register(cluster.close)
    return str(_STATE[key].scheduler_address)


_COUNTER = itertools.count()


def shutdown() -> None:
    """Close the suite's clusters and remove its files (also done at exit)."""
    for key in [k for k in _STATE if k.startswith("cluster-")]:
        _STATE.pop(key).close()
    for key in [k for k in _STATE if k.startswith("manifest-")]:
        del _STATE[key]
    from fastmed.bench.suites import store_read

    store_read._DATA.clear()
    tmp = _STATE.pop("tmp", None)
    if tmp is not None:
        tmp.cleanup()


def _converter(size: str, workers: int) -> Callable[[], Any]:
    from fastmed.store import convert

    def run() -> Any:
        out = _tmp() / f"store-{next(_COUNTER)}.zarr"
        res = convert(_archive(size), out, scheduler=_cluster(workers), progress=False)
        shutil.rmtree(out, ignore_errors=True)
        return res

    return run


def ct_compression(size: str) -> float:
    """Raw bytes / stored bytes of the archive's CT images (default chunks and codec)."""
    from fastmed.store import convert, open_store

    out = _tmp() / f"ratio-{size}.zarr"
    if not out.exists():
        convert(_archive(size), out, scheduler=_cluster(1), progress=False)
    s = open_store(out)
    raw = stored = 0
    for sid in s.ids:
        row = s.row(sid)
        if row["modality"] != "CT":
            continue
        raw += int(np.prod(row["shape"])) * np.dtype(row["dtype"]).itemsize
        stored += sum(f.stat().st_size for f in (out / row["image"]).rglob("*") if f.is_file())
    return raw / stored if stored else float("nan")


@register_suite("store")
def store_suite(size: str = "small", threads: tuple[int, ...] = (1, 2)) -> list[Case]:
    """Store: conversion slices/s with 1 and 2 Dask workers, CT compression; R3D patch read+augment vs peers."""
    from fastmed.bench.suites.store_read import read_cases

    if size not in SHAPES:
        raise ValueError(f"unknown size {size!r}; known: {sorted(SHAPES)}")
    man = _archive(size)
    slices = sum(r.shape[0] for r in man.valid)
    workers = sorted(set(threads), reverse=True)
    impls = [
        Impl(f"dask-{w}-worker{'s' if w > 1 else ''}", _converter(size, w), is_fastmed=(w == workers[0]))
        for w in workers
    ]
    ratio = ct_compression(size)
    convert_case = Case(f"convert (CT compression {ratio:.2f}x)", impls, items=slices, unit="slice", threads=None)
    return [convert_case, *read_cases(size, threads)]
