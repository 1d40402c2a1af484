"""Named ViT sizes. The ``tiny`` ones are small enough for CPU tests and the demo."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ViTConfig:
    """Shape of a ViT encoder and its MAE decoder.

    Parameters
    ----------
    spatial_dims
        2 (X-ray) or 3 (CT/MR).
    in_channels
        Image channels.
    img_size
        Input size per spatial axis (each a multiple of the patch size).
    patch_size
        Patch size per spatial axis.
    hidden_size, depth, num_heads, mlp_dim
        Encoder width, number of blocks, attention heads and MLP width.
    decoder_hidden, decoder_depth, decoder_heads
        MAE decoder width, blocks and heads (light: MAE's asymmetric design).
    """

    spatial_dims: int
    in_channels: int
    img_size: tuple[int, ...]
    patch_size: tuple[int, ...]
    hidden_size: int
    depth: int
    num_heads: int
    mlp_dim: int
    decoder_hidden: int
    decoder_depth: int
    decoder_heads: int

    def __post_init__(self) -> None:
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if len(self.img_size) != self.spatial_dims or len(self.patch_size) != self.spatial_dims:
            raise ValueError("img_size and patch_size need one entry per spatial axis")
        if any(i % p for i, p in zip(self.img_size, self.patch_size, strict=True)):
            raise ValueError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if self.hidden_size % self.num_heads or self.decoder_hidden % self.decoder_heads:
            raise ValueError("widths must be multiples of their head counts")

    @property
    def grid(self) -> tuple[int, ...]:
        """Patch grid (tokens per axis)."""
        return tuple(i // p for i, p in zip(self.img_size, self.patch_size, strict=True))

    @property
    def n_patches(self) -> int:
        """Number of tokens."""
        return int(np.prod(self.grid))

    @property
    def patch_dim(self) -> int:
        """Values per patch (voxels times channels)."""
        return int(np.prod(self.patch_size)) * self.in_channels

    def with_(self, **changes: Any) -> ViTConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)


CONFIGS: dict[str, ViTConfig] = {
    "vit3d_tiny": ViTConfig(3, 1, (32, 32, 32), (8, 8, 8), 64, 4, 4, 128, 32, 1, 2),
    "vit2d_tiny": ViTConfig(2, 1, (64, 64), (8, 8), 64, 4, 4, 128, 32, 1, 2),
    "vit3d_small": ViTConfig(3, 1, (96, 96, 96), (16, 16, 16), 384, 12, 6, 1536, 256, 4, 8),
    "vit2d_small": ViTConfig(2, 1, (224, 224), (16, 16), 384, 12, 6, 1536, 256, 4, 8),
}


def get_config(name: str) -> ViTConfig:
    """Return the named configuration (``vit3d_tiny``, ``vit2d_tiny``, ``vit3d_small``, ``vit2d_small``)."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {sorted(CONFIGS)}") from None
