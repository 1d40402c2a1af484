"""``fastmed index``: index an archive into a Parquet manifest."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``index`` subcommand."""
    p = subparsers.add_parser("index", help="index a DICOM archive into a manifest (one row per series)")
    p.add_argument("root", type=Path, help="archive folder")
    p.add_argument("-o", "--output", type=Path, default=Path("manifest.parquet"), help="manifest file (Parquet)")
    p.add_argument("--threads", type=int, default=None, help="header-reading threads")
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write the per-file cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--scheduler", default=None, help="tcp://HOST:PORT: parse headers on a Dask cluster (no cache)")
    p.add_argument("--workers", type=int, default=None, help="parse on a local Dask cluster of N workers")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Index ``args.root`` and write the manifest; prints a summary without identifiers."""
    from fastmed.dicom.index import index

    t0 = time.perf_counter()
    cache = False if args.no_cache else Path(str(args.output) + ".files")
    if getattr(args, "scheduler", None) or getattr(args, "workers", None):
        from fastmed.store.index_dask import index_on_dask

        man = index_on_dask(args.root, args.scheduler, args.workers, progress=not args.quiet)
    else:
        man = index(args.root, threads=args.threads, cache=cache, progress=not args.quiet)
    dt = time.perf_counter() - t0
    man.to_parquet(args.output)
    n_files = sum(len(r.files) for r in man)
    print(
        f"indexed {n_files} image files in {len(man)} series ({len(man.valid)} valid), "
        f"{len(man.rejected)} rejected, in {dt:.2f} s -> {args.output}"
    )
    for r in man:
        if not r.valid:
            print(f"  series {r.series_id}: " + "; ".join(r.problems))
    return 0
