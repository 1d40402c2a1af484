"""Small synthetic segmentation volumes for the integration tests (a module, so workers can import it)."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset


def volume_pair(i: int, shape: tuple[int, int, int] = (24, 24, 24)) -> dict[str, np.ndarray]:
    """One channel-first image with a ball of foreground and its label, a function of ``i``."""
    zz, yy, xx = np.indices(shape, dtype=np.float32)
    centre = np.array(shape, np.float32) / 2 + (i % 5) - 2
    ball = ((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) <= (min(shape) / 4) ** 2
    image = (100.0 * ball + 10.0 * np.sin(xx * 0.3 + i)).astype(np.float32)[None]
    return {"image": image, "label": ball.astype(np.float32)[None]}


def volume_dicts(n: int, shape: tuple[int, int, int] = (24, 24, 24)) -> list[dict[str, np.ndarray]]:
    """``n`` image/label dicts, as a MONAI ``data`` list would hold them (arrays, not file names)."""
    return [volume_pair(i, shape) for i in range(n)]


class VolumeDicts(Dataset):
    """A map-style dataset of image/label dicts (copies, so a transform may write in place)."""

    def __init__(self, n: int, shape: tuple[int, int, int] = (24, 24, 24)):
        self.items = volume_dicts(n, shape)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {k: v.copy() for k, v in self.items[i].items()}
