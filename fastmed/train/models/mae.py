"""Masked autoencoder (He et al. 2022) on :class:`~fastmed.train.models.vit.ViTEncoder`.

The mask comes with the batch (drawn on the data side by :func:`~fastmed.train.models.masking.mae_mask`);
the encoder sees the visible patches only, a light decoder fills in mask tokens, and the loss is the
mean squared error on the masked patches of per-patch normalised pixels.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import TransformerBlock
from torch import nn

from fastmed.train.models.config import ViTConfig
from fastmed.train.models.patches import patchify
from fastmed.train.models.vit import ViTEncoder


def normalized_pixel_targets(images: torch.Tensor, patch_size: tuple[int, ...], eps: float = 1e-6) -> torch.Tensor:
    """Patch rows of ``images``, each normalised to zero mean and unit variance (MAE's ``norm_pix_loss``)."""
    rows = patchify(images, patch_size).float()
    mean = rows.mean(dim=-1, keepdim=True)
    var = rows.var(dim=-1, keepdim=True, unbiased=False)
    return (rows - mean) / torch.sqrt(var + eps)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over masked patches of the per-patch mean squared error; ``mask`` is ``(B, N)``, True = masked."""
    per_patch = ((pred.float() - target) ** 2).mean(dim=-1)
    m = mask.to(per_patch.dtype)
    return (per_patch * m).sum() / m.sum().clamp_min(1.0)


class MAE(nn.Module):
    """ViT masked autoencoder.

    Parameters
    ----------
    cfg
        Encoder and decoder shape.
    norm_pix
        Normalise each target patch (the MAE paper's better-representation setting).
    """

    def __init__(self, cfg: ViTConfig, norm_pix: bool = True):
        super().__init__()
        self.cfg = cfg
        self.norm_pix = norm_pix
        self.encoder = ViTEncoder(cfg)
        self.decoder_embed = nn.Linear(cfg.hidden_size, cfg.decoder_hidden)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_hidden))
        self.decoder_pos = nn.Parameter(torch.zeros(1, cfg.n_patches, cfg.decoder_hidden))
        self.decoder_blocks = nn.ModuleList(
            TransformerBlock(cfg.decoder_hidden, 4 * cfg.decoder_hidden, cfg.decoder_heads, qkv_bias=True)
            for _ in range(cfg.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(cfg.decoder_hidden)
        self.decoder_pred = nn.Linear(cfg.decoder_hidden, cfg.patch_dim)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.decoder_pos, std=0.02)

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruct the masked patches.

        Parameters
        ----------
        images
            ``(B, C, *img_size)``.
        mask
            ``(B, *grid)`` or ``(B, N)`` bool, True = masked (hidden from the encoder).

        Returns
        -------
        dict
            ``loss`` (scalar), ``pred`` (``(B, N, patch_dim)``, every patch), ``mask`` (``(B, N)`` bool).
        """
        b = images.shape[0]
        m = mask.reshape(b, -1).to(device=images.device, dtype=torch.bool)
        visible = self.encoder(images, m)
        vis = self.decoder_embed(visible)
        full = self.mask_token.to(vis.dtype).expand(b, m.shape[1], -1).clone()
        full[~m] = vis.reshape(-1, vis.shape[-1])
        h = full + self.decoder_pos.to(vis.dtype)
        for blk in self.decoder_blocks:
            h = blk(h)
        pred = self.decoder_pred(self.decoder_norm(h))
        if self.norm_pix:
            target = normalized_pixel_targets(images, self.cfg.patch_size)
        else:
            target = patchify(images, self.cfg.patch_size).float()
        return {"loss": masked_mse(pred, target, m), "pred": pred, "mask": m}
