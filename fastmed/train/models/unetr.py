"""UNETR-style segmentation on the ViT encoder (Hatamizadeh et al. 2022), 2D or 3D.

Reused from MONAI: ``UnetrBasicBlock``, ``UnetrPrUpBlock``, ``UnetrUpBlock`` and ``UnetOutBlock``,
the decoder blocks of ``monai.networks.nets.UNETR``. MONAI's ``UNETR`` itself builds its own ``ViT``
and hard-codes 12 blocks with skips at 3/6/9 and 16-voxel patches; here the decoder is sized from the
patch size (one upsampling stage per factor of 2) and takes skips from evenly spaced blocks of any
fastmed :class:`~fastmed.train.models.vit.ViTEncoder`, so a pretrained MAE encoder plugs in.
"""

from __future__ import annotations

import math

import torch
from monai.losses import DiceCELoss
from monai.networks.blocks import UnetOutBlock, UnetrBasicBlock, UnetrPrUpBlock, UnetrUpBlock
from torch import nn

from fastmed.train.models.vit import ViTEncoder


def _stages(patch_size: tuple[int, ...]) -> int:
    p = patch_size[0]
    if any(q != p for q in patch_size) or p < 2 or p & (p - 1):
        raise ValueError(f"UNETR needs an isotropic power-of-two patch size, got {patch_size}")
    return int(math.log2(p))


class UNETR(nn.Module):
    """ViT encoder with a convolutional decoder fed by skips from the encoder's blocks.

    Parameters
    ----------
    encoder
        A (pretrained) ViT encoder whose patch size is ``2**s`` on every axis (``s >= 1``).
    out_channels
        Number of classes (background included).
    feature_size
        Channels at full resolution (doubled per stage down).
    """

    def __init__(self, encoder: ViTEncoder, out_channels: int, feature_size: int = 16):
        super().__init__()
        cfg = encoder.cfg
        self.encoder = encoder
        s = _stages(cfg.patch_size)
        self.n_stages = s
        nd, hid, f = cfg.spatial_dims, cfg.hidden_size, feature_size
        self.stem = UnetrBasicBlock(
            nd, cfg.in_channels, f, kernel_size=3, stride=1, norm_name="instance", res_block=True
        )
        # skip j (1 .. s-1) is upsampled 2**(s-j) times from the token grid to reach resolution img / 2**j
        # (block outputs j * depth // s, as MONAI's 3/6/9 of 12 blocks)
        self.skip_layers = [min(j * cfg.depth // s, cfg.depth - 1) for j in range(1, s)]
        self.skips = nn.ModuleList(
            UnetrPrUpBlock(
                nd,
                hid,
                f * 2**j,
                num_layer=s - j - 1,
                kernel_size=3,
                stride=1,
                upsample_kernel_size=2,
                norm_name="instance",
                conv_block=True,
                res_block=True,
            )
            for j in range(1, s)
        )
        ups = []
        for j in range(s - 1, -1, -1):  # decoder stage to resolution img / 2**j
            cin = hid if j == s - 1 else f * 2 ** (j + 1)
            ups.append(
                UnetrUpBlock(
                    nd, cin, f * 2**j, kernel_size=3, upsample_kernel_size=2, norm_name="instance", res_block=True
                )
            )
        self.ups = nn.ModuleList(ups)
        self.out = UnetOutBlock(nd, f, out_channels)

    def _grid(self, tokens: torch.Tensor) -> torch.Tensor:
        b, _, d = tokens.shape
        return tokens.transpose(1, 2).reshape(b, d, *self.encoder.cfg.grid)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, out_channels, *img_size)``."""
        tokens, hidden = self.encoder.forward_hidden(images)
        skips = [
            blk(self._grid(hidden[i])) for blk, i in zip(self.skips, self.skip_layers, strict=True)
        ]  # img/2 .. img/2**(s-1)
        x = self._grid(tokens)
        for k, up in enumerate(self.ups):
            j = self.n_stages - 1 - k
            x = up(x, self.stem(images) if j == 0 else skips[j - 1])
        return self.out(x)


def dice_ce_loss(batch: bool = False) -> DiceCELoss:
    """Dice + cross-entropy (equal weights) on softmax logits against integer label maps ``(B, 1, *spatial)``.

    ``batch``: one Dice over the whole batch per class (nnU-Net's batch Dice) instead of the mean of per-sample Dice.
    """
    return DiceCELoss(to_onehot_y=True, softmax=True, batch=batch)
