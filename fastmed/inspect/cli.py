"""``fastmed inspect INPUT [-p PIPELINE] [-n N] [--seed S] [--label L.npy] [-o OUT.png]``."""

from __future__ import annotations

import argparse
from typing import Any

from fastmed.transforms.presets import preset_names


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``inspect`` sub-command to an ``argparse`` sub-parsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "inspect",
        help="write a PNG montage of what an augmentation pipeline does to a volume",
        description="Run a pipeline N times on a volume and write a PNG: the input and each sample as "
        "axial/coronal/sagittal slices through the patch centre (one panel for 2-D), with the drawn "
        "params as captions and labels as contours.",
    )
    p.add_argument("input", help="DICOM series folder or file, or a .npy volume")
    p.add_argument(
        "-p",
        "--pipeline",
        default="r3d",
        help=f"preset ({', '.join(preset_names())}) or a JSON/YAML file of Compose.to_dict() (default r3d)",
    )
    p.add_argument("-o", "--output", default="inspect.png", help="PNG to write (default inspect.png)")
    p.add_argument("-n", "--samples", type=int, default=4, help="number of samples (default 4)")
    p.add_argument("--seed", type=int, default=0, help="pipeline seed (default 0)")
    p.add_argument("--epoch", type=int, default=0, help="epoch (default 0)")
    p.add_argument("--indices", type=int, nargs="+", default=None, help="sample indices (default 0..N-1)")
    p.add_argument("--label", default=None, help="label .npy on the image grid, drawn as contours")
    p.add_argument("--spacing", type=float, nargs="+", default=None, help="spacing in mm (z y x), for .npy input")
    p.add_argument("--patch", type=int, nargs="+", default=None, help="patch size of a preset (default: fitted)")
    p.add_argument("--channel", type=int, default=0, help="image channel to show (default 0)")
    p.add_argument("--panel-px", type=int, default=256, help="panel size in pixels (default 256)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handle ``fastmed inspect``; returns the process exit code."""
    from fastmed.errors import FastmedError
    from fastmed.inspect.run import inspect_pipeline

    try:
        w, h = inspect_pipeline(
            args.input,
            args.pipeline,
            args.output,
            n=args.samples,
            seed=args.seed,
            epoch=args.epoch,
            indices=args.indices,
            label=args.label,
            spacing=args.spacing,
            patch=args.patch,
            channel=args.channel,
            panel_px=args.panel_px,
        )
    except (FastmedError, FileNotFoundError) as exc:
        print(f"fastmed inspect: {exc}")
        return 2
    n = len(args.indices) if args.indices else args.samples
    print(f"wrote {args.output} ({w}x{h} px): input + {n} samples of {args.pipeline}, seed {args.seed}")
    return 0
