"""Loaders without ``seed=`` for the seedless resume test, and its child process.

The child seeds torch differently from the parent (another initial seed), loads the saved
state into a NEW loader and finishes the epoch, then runs the next one.

Usage: python -m tests.loader._resume_seedless_child STATE_IN BATCHES_OUT TORCH_SEED {patches|plain}
"""

from __future__ import annotations

import sys

import torch

import fastmed as fm
from tests.loader._datasets import IndexDataset, KeyedNoise


def make_seedless(kind: str) -> fm.DataLoader:
    """``"patches"``: label patches of lazy volumes (fast path); ``"plain"``: keyed noise on 13 samples."""
    if kind == "plain":
        return fm.DataLoader(IndexDataset(13), batch_size=2, shuffle=True, transform=KeyedNoise())
    from tests.loader._patch_data import LazyVolumes

    shapes = [(20, 24, 28), (24, 20, 22), (18, 26, 24), (22, 22, 22), (26, 18, 20)]
    return fm.DataLoader(
        LazyVolumes(shapes),
        batch_size=2,
        shuffle=True,
        transform=fm.Compose([fm.RandomFlip(), fm.RandomGaussianNoise(std=(0.0, 5.0))]),
        patch_sampler=fm.LabelPatchSampler((8, 8, 8), 0.5),
        samples_per_volume=3,
        queue_length=3,
    )


def main() -> None:
    state_path, out_path, torch_seed, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    torch.manual_seed(torch_seed)
    loader = make_seedless(kind)
    initial = torch.initial_seed()  # (loading a plain loader's state restores torch's RNG, seed included)
    loader.load_state_dict(torch.load(state_path, weights_only=False))
    rest = list(loader)
    nxt = list(loader)
    torch.save({"rest": rest, "next": nxt, "initial_seed": initial}, out_path)


if __name__ == "__main__":
    main()
