"""``fastmed synth OUT --studies N --seed S [--size ...] [--edge-case NAME ...]``."""

from __future__ import annotations

import argparse
from typing import Any

from fastmed.synth.archive import generate_archive
from fastmed.synth.edge_cases import EDGE_CASES
from fastmed.synth.encode import NAMES
from fastmed.synth.plan import SIZES


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``synth`` sub-command to an ``argparse`` sub-parsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "synth",
        help="write a synthetic DICOM archive with labels, reports and truth.json",
        description="Write a deterministic synthetic DICOM archive (CT, MR, CR, DX) with lesion labels, "
        "reports and truth.json.",
    )
    p.add_argument("out", help="output folder")
    p.add_argument("--studies", type=int, default=6, help="number of studies (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed (same seed, same bytes)")
    p.add_argument("--size", choices=sorted(SIZES), default="small", help="grid sizes (default small)")
    p.add_argument(
        "--edge-case",
        action="append",
        default=[],
        choices=EDGE_CASES,
        dest="edge_cases",
        metavar="NAME",
        help=f"inject an edge case (repeatable): {', '.join(EDGE_CASES)}",
    )
    p.add_argument(
        "--transfer-syntax",
        action="append",
        default=None,
        dest="transfer_syntaxes",
        metavar="TS",
        help=f"restrict transfer syntaxes (repeatable): {', '.join(NAMES)} or a UID",
    )
    p.add_argument("--save-pixels", action="store_true", help="also save the stored integers per series")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handle ``fastmed synth``; returns the process exit code."""
    info = generate_archive(
        args.out,
        args.studies,
        args.seed,
        shape=args.size,
        edge_cases=tuple(args.edge_cases),
        transfer_syntaxes=args.transfer_syntaxes,
        save_pixels=args.save_pixels,
    )
    n_series = sum(1 for _ in info.all_series())
    n_files = sum(len(s.files) for s in info.all_series())
    counts = f"{len(info.studies)} studies, {n_series} series, {n_files} files"
    print(f"wrote {counts} to {args.out} (truth.json, labels.csv)")
    return 0
