"""``fastmed demo``: the main job on the built-in synthetic archive.

It synthesizes a small archive of CT, MR and X-ray studies, reads every series back and
prints what it found and how fast. Later stages (cache, loader, training) extend it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``demo`` subcommand."""
    p = subparsers.add_parser("demo", help="synthesize an archive, read it back, report what and how fast")
    p.add_argument("--studies", type=int, default=6, help="studies in the synthetic archive")
    p.add_argument("--seed", type=int, default=0, help="seed of the archive")
    p.add_argument("--size", default="small", choices=["small", "medium", "full"], help="volume size preset")
    p.add_argument("--out", type=Path, default=None, help="keep the archive here (default: a temp folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the process exit code."""
    if args.out is not None:
        return _run_in(Path(args.out), args)
    with tempfile.TemporaryDirectory(prefix="fastmed-demo-") as tmp:
        return _run_in(Path(tmp), args)


def _run_in(root: Path, args: argparse.Namespace) -> int:
    from fastmed.synth import generate_archive

    t0 = time.perf_counter()
    info = generate_archive(root, studies=args.studies, seed=args.seed, shape=args.size)
    t_synth = time.perf_counter() - t0
    files = sorted(root.rglob("*.dcm"))
    print(f"synthesized {len(files)} DICOM files in {len(list(info.all_series()))} series, {t_synth:.2f} s -> {root}")
    _read_back(files)
    return 0


def _read_back(files: list[Path]) -> None:
    import pydicom

    t0 = time.perf_counter()
    voxels = 0
    syntaxes: dict[str, int] = {}
    for f in files:
        ds = pydicom.dcmread(f)
        arr = np.asarray(ds.pixel_array)
        voxels += arr.size
        name = ds.file_meta.TransferSyntaxUID.name
        syntaxes[name] = syntaxes.get(name, 0) + 1
    dt = time.perf_counter() - t0
    print(f"read back {len(files)} files ({voxels / 1e6:.1f} Mvoxel) in {dt:.2f} s: {len(files) / dt:.0f} files/s")
    for name, n in sorted(syntaxes.items()):
        print(f"  {n:4d}  {name}")
