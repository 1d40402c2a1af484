"""``fastmed bench``: run registered suites and write their reports."""

from __future__ import annotations

import argparse
from pathlib import Path

from fastmed.bench.harness import CaseResult, run_case
from fastmed.bench.registry import SUITES, get_suite
from fastmed.bench.report import to_markdown, write_reports


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``bench`` subcommand."""
    p = subparsers.add_parser("bench", help="run benchmark suites against installed peers")
    p.add_argument("suites", nargs="*", help="suite names (default: all); see --list")
    p.add_argument("--list", action="store_true", help="list the suites and exit")
    p.add_argument("--size", default="small", help="data size preset of the suites (tiny|small|full)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--repeat", type=int, default=7, help="timed runs per implementation")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    p.add_argument("--min-time", type=float, default=0.0, help="keep timing until this many seconds")
    p.add_argument("--out", type=Path, default=Path("bench/results"), help="report folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen suites, print the Markdown tables and write reports."""
    import fastmed.bench.suites  # noqa: F401  (registers built-ins)

    if args.list:
        for name, fn in sorted(SUITES.items()):
            print(f"{name:12s} {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    threads = tuple(int(t) for t in str(args.threads).split(",") if t)
    for name in args.suites or sorted(SUITES):
        cases = get_suite(name)(size=args.size, threads=threads)
        results: list[CaseResult] = []
        missing = {}
        for case in cases:
            results += run_case(case, repeat=args.repeat, warmup=args.warmup, min_time_s=args.min_time)
            if case.missing:
                missing[case.name] = case.missing
        paths = write_reports(name, results, missing, args.out)
        print(to_markdown(name, results, missing))
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
