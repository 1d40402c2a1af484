"""The ``fastmed`` command line: ``fastmed <subcommand> ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fastmed import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    from fastmed.bench import cli as bench_cli
    from fastmed.demo import add_parser as add_demo
    from fastmed.dicom import cli as dicom_cli
    from fastmed.inspect import cli as inspect_cli
    from fastmed.store import cli as store_cli
    from fastmed.synth import cli as synth_cli
    from fastmed.train.recipes import cli as train_cli

    parser = argparse.ArgumentParser(prog="fastmed", description="Medical-imaging training that never waits for data.")
    parser.add_argument("--version", action="version", version=f"fastmed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_demo(sub)
    synth_cli.add_parser(sub)
    dicom_cli.add_parser(sub)
    inspect_cli.add_parser(sub)
    store_cli.add_parser(sub)
    bench_cli.add_parser(sub)
    train_cli.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fastmed`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
