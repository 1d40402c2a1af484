"""Images to patch rows and back, in the token order of a strided-conv patch embedding (C order over the grid)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def patchify(x: torch.Tensor, patch_size: Sequence[int]) -> torch.Tensor:
    """``(B, C, *spatial)`` -> ``(B, n_patches, prod(patch_size) * C)``, channels last within a patch."""
    nd = len(patch_size)
    b, c = x.shape[:2]
    spatial = x.shape[2:]
    if len(spatial) != nd or any(s % p for s, p in zip(spatial, patch_size, strict=True)):
        raise ValueError(f"image {tuple(x.shape)} does not tile into patches {tuple(patch_size)}")
    grid = [s // p for s, p in zip(spatial, patch_size, strict=True)]
    shape = [b, c]
    for g, p in zip(grid, patch_size, strict=True):
        shape += [g, p]
    y = x.reshape(shape)
    perm = [0] + [2 + 2 * i for i in range(nd)] + [3 + 2 * i for i in range(nd)] + [1]
    n = 1
    for g in grid:
        n *= g
    return y.permute(perm).reshape(b, n, -1)


def unpatchify(rows: torch.Tensor, patch_size: Sequence[int], grid: Sequence[int], channels: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, n_patches, patch_dim)`` -> ``(B, C, *spatial)``."""
    nd = len(patch_size)
    b = rows.shape[0]
    y = rows.reshape([b, *grid, *patch_size, channels])
    perm = [0, 2 * nd + 1]
    for i in range(nd):
        perm += [1 + i, 1 + nd + i]
    y = y.permute(perm)
    return y.reshape([b, channels, *(g * p for g, p in zip(grid, patch_size, strict=True))])
