"""The loader configuration shared by the resume test and its child process."""

from __future__ import annotations

import fastmed as fm
from tests.loader._datasets import IndexDataset, KeyedNoise


def make_loader(num_workers: int) -> fm.DataLoader:
    """A seeded, shuffled loader with a keyed transform over 23 samples, batches of 3."""
    return fm.DataLoader(
        IndexDataset(23), batch_size=3, shuffle=True, seed=42, transform=KeyedNoise(), num_workers=num_workers
    )


def make_patch_loader(num_workers: int) -> fm.DataLoader:
    """Patches: a label sampler, 3 patches per lazy volume, a keyed noise, batches of 2 (fast path)."""
    from tests.loader._patch_data import LazyVolumes

    shapes = [(20, 24, 28), (24, 20, 22), (18, 26, 24), (22, 22, 22), (26, 18, 20)]
    return fm.DataLoader(
        LazyVolumes(shapes),
        batch_size=2,
        shuffle=True,
        seed=42,
        transform=fm.Compose([fm.RandomFlip(), fm.RandomGaussianNoise(std=(0.0, 5.0))]),
        patch_sampler=fm.LabelPatchSampler((8, 8, 8), 0.5),
        samples_per_volume=3,
        num_workers=num_workers,
    )


def run_child(module: str, *args: str) -> None:
    """Run ``python -m module args...`` from the repository root with it first on ``PYTHONPATH`` (a new process)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    subprocess.run([sys.executable, "-m", module, *args], cwd=root, env=env, check=True, timeout=120)
