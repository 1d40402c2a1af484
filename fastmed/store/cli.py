"""``fastmed convert`` and ``fastmed verify``."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``convert`` and ``verify`` subcommands."""
    p = subparsers.add_parser("convert", help="convert an archive or manifest into a zarr v3 store (Dask)")
    p.add_argument("source", type=Path, help="archive folder or manifest (Parquet)")
    p.add_argument("-o", "--output", type=Path, required=True, help="store folder, e.g. cache.zarr")
    p.add_argument("--labels", type=Path, default=None, help="CSV keyed by series_id: class columns, report, mask")
    p.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of an existing Dask scheduler")
    p.add_argument("--workers", type=int, default=None, help="worker processes of the local cluster")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_convert)
    v = subparsers.add_parser("verify", help="check every chunk (crc32c) and the table of a store")
    v.add_argument("store", type=Path, help="store folder")
    v.add_argument("--threads", type=int, default=None, help="chunk-reading threads")
    v.set_defaults(func=run_verify)


def labels_from_csv(path: Path) -> dict[str, dict[str, Any]]:
    """Annotations from a CSV with a ``series_id`` column (keyed ids), ``report``, ``mask`` and class columns.

    Class values that parse as numbers become numbers. (Tables keyed by UIDs or accession
    numbers go through ``fm.annotate`` first.)
    """
    out: dict[str, dict[str, Any]] = {}
    with path.open(newline="") as f:
        for rec in csv.DictReader(f):
            sid = rec.pop("series_id", None)
            if not sid:
                raise SystemExit(f"{path}: needs a series_id column (keyed series ids)")
            report, mask = rec.pop("report", "") or "", rec.pop("mask", "") or None
            classes: dict[str, Any] = {}
            for k, val in rec.items():
                try:
                    classes[k] = int(val)
                except ValueError:
                    try:
                        classes[k] = float(val)
                    except ValueError:
                        classes[k] = val
            if mask is not None and not Path(mask).is_absolute():
                mask = str((path.parent / mask).resolve())
            out[sid] = {"classes": classes, "report": report, "mask": mask}
    return out


def run_convert(args: argparse.Namespace) -> int:
    """Convert and print the summary (ids only); exit 1 if a series failed."""
    from fastmed.store.convert import convert

    ann = labels_from_csv(args.labels) if args.labels else None
    res = convert(
        args.source, args.output, ann, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet
    )
    print(f"{res} in {res.seconds:.1f} s -> {args.output}")
    for sid, why in res.failed.items():
        print(f"  series {sid}: {why}")
    return 1 if res.failed else 0


def run_verify(args: argparse.Namespace) -> int:
    """Verify and list corrupt chunks; exit 1 unless the store is sound."""
    from fastmed.store.verify import verify

    rep = verify(args.store, threads=args.threads)
    print(rep)
    for n in rep.notes:
        print(f"  note: {n}")
    return 0 if rep.ok else 1
