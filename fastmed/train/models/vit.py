"""ViT encoder (2D or 3D) that can run on the visible patches only.

Reused from MONAI: ``PatchEmbeddingBlock`` (strided-conv patch embedding plus learnable position
embedding) and ``TransformerBlock`` (pre-norm attention + MLP). Those are the pieces of MONAI's
``ViT`` / ``MaskedAutoEncoderViT``; the models themselves are not reused because MONAI's MAE draws its
mask inside ``forward`` with torch's global RNG, while fastmed's masks come from the data side.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import PatchEmbeddingBlock, TransformerBlock
from torch import nn

from fastmed.train.models.config import ViTConfig


def select_visible(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Keep the tokens where ``mask`` is False: ``(B, N, D)`` and ``(B, N)`` -> ``(B, n_visible, D)``.

    Every sample must have the same number of visible tokens (true of :func:`~.masking.mae_mask`).
    """
    b, n, d = tokens.shape
    m = mask.reshape(b, -1).to(torch.bool)
    if m.shape[1] != n:
        raise ValueError(f"mask has {m.shape[1]} entries per sample, the image has {n} patches")
    keep = ~m
    counts = keep.sum(dim=1)
    if bool((counts != counts[0]).any()):
        raise ValueError("every sample of a batch must keep the same number of patches")
    return tokens[keep].reshape(b, int(counts[0]), d)


class ViTEncoder(nn.Module):
    """Patch embedding, transformer blocks and a final LayerNorm.

    Parameters
    ----------
    cfg
        Model shape (see :mod:`~fastmed.train.models.config`).
    """

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbeddingBlock(
            in_channels=cfg.in_channels,
            img_size=cfg.img_size,
            patch_size=cfg.patch_size,
            hidden_size=cfg.hidden_size,
            num_heads=cfg.num_heads,
            proj_type="conv",
            pos_embed_type="learnable",
            spatial_dims=cfg.spatial_dims,
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(cfg.hidden_size, cfg.mlp_dim, cfg.num_heads, qkv_bias=True) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.hidden_size)

    def forward_hidden(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Encode; return the normed output tokens and every block's output (for UNETR skips).

        Parameters
        ----------
        x
            Images ``(B, C, *img_size)``.
        mask
            Optional MAE mask ``(B, *grid)`` or ``(B, N)``, True = hidden; the blocks then see only
            the visible tokens.

        Returns
        -------
        tuple
            ``(tokens (B, n, D), [block outputs (B, n, D)] * depth)``.
        """
        h = self.patch_embed(x)
        if mask is not None:
            h = select_visible(h, mask)
        hidden = []
        for blk in self.blocks:
            h = blk(h)
            hidden.append(h)
        return self.norm(h), hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normed output tokens ``(B, n_tokens, hidden_size)`` (visible ones only when ``mask`` is given)."""
        return self.forward_hidden(x, mask)[0]

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of the output tokens: one ``(B, hidden_size)`` feature per image."""
        return self.forward(x).mean(dim=1)
