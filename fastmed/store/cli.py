"""``fastmed convert`` and ``fastmed verify``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``convert`` and ``verify`` subcommands."""
    p = subparsers.add_parser("convert", help="convert an archive or manifest into a zarr v3 store (Dask)")
    p.add_argument("source", type=Path, help="archive folder or manifest (Parquet)")
    p.add_argument("-o", "--output", type=Path, required=True, help="store folder, e.g. cache.zarr")
    p.add_argument("--labels", type=Path, default=None, help="annotation table (CSV/Parquet), joined with fm.annotate")
    p.add_argument("--on", default=None, help="key column kind of --labels (default: detected; see fm.annotate)")
    p.add_argument(
        "--multilabel",
        action="append",
        default=None,
        metavar="COLUMN",
        help="a column of --labels holding ';'-separated finding lists (repeatable): one 0/1 label per finding "
        "(named COLUMN:finding; e.g. --multilabel findings for `fastmed finetune cls data=findings`)",
    )
    p.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of an existing Dask scheduler")
    p.add_argument("--workers", type=int, default=None, help="worker processes of the local cluster")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_convert)
    v = subparsers.add_parser("verify", help="check every chunk (crc32c) and the table of a store")
    v.add_argument("store", type=Path, help="store folder")
    v.add_argument("--threads", type=int, default=None, help="chunk-reading threads")
    v.set_defaults(func=run_verify)


def run_convert(args: argparse.Namespace) -> int:
    """Convert and print the summary (ids only); exit 1 if a series failed."""
    from fastmed.store.convert import convert, load_manifest

    source = load_manifest(args.source)
    if args.labels:
        from fastmed.annotations import annotate

        source = annotate(source, args.labels, on=args.on, how="left", multilabel=args.multilabel)
        print(source.summary)
    res = convert(source, args.output, None, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet)
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
