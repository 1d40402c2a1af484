"""A user's own torch Dataset that calls fastmed inside ``__getitem__`` (importable for spawn workers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import fastmed as fm


def pipeline() -> fm.Compose:
    return fm.Compose(
        [
            fm.RandomCrop((8, 12, 12)),
            fm.RandomFlip(),
            fm.RandomAffine(degrees=10, scale=(0.9, 1.1)),
            fm.RandomGamma(),
            fm.RandomGaussianNoise(),
        ]
    )


def sample(paths: list[str], index: int) -> np.ndarray:
    """What one item is: a multi-threaded series read, then a multi-threaded augmentation."""
    vol = fm.read_series([Path(p) for p in paths], threads=2)
    image = vol.array[None].astype(np.float32)
    out = pipeline()({"image": image, "spacing": vol.spacing}, seed=3, index=index)
    return np.asarray(out["image"])


class SeriesAugmentDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, paths: list[str], n: int) -> None:
        self.paths = paths
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> np.ndarray:
        return sample(self.paths, index)
