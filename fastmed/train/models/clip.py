"""CLIP-style image-report model: MAE/ViT image encoder, text encoder, projections, symmetric InfoNCE."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fastmed.train.models.vit import ViTEncoder
from fastmed.train.text.encoder import TextEncoder

MAX_LOGIT_SCALE = math.log(100.0)
"""Upper clamp of the log temperature inverse (CLIP's 100)."""

POOLS = ("mean", "max", "meanmax")
"""Ways of pooling the image tokens into one feature."""


def clip_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor, positives: torch.Tensor | None = None
) -> torch.Tensor:
    """Symmetric InfoNCE: mean of image->text and text->image cross-entropy, pair i matching pair i.

    Parameters
    ----------
    image_emb, text_emb
        ``(B, E)`` embeddings (normalised here).
    logit_scale
        Log of the inverse temperature (a learnable scalar); clamped to ``[0, log 100]``.
    positives
        Optional symmetric ``(B, B)`` boolean matrix, True where image i and report j match (its diagonal
        True): each row's target is spread evenly over its positives instead of pair i alone. ``None``: the
        identity (CLIP's loss).

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    img = F.normalize(image_emb.float(), dim=-1)
    txt = F.normalize(text_emb.float(), dim=-1)
    logits = logit_scale.clamp(0.0, MAX_LOGIT_SCALE).exp() * img @ txt.t()
    if positives is None:
        target = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    pos = positives.to(device=logits.device, dtype=logits.dtype)
    if pos.shape != logits.shape or not bool(torch.diagonal(pos).all()):
        raise ValueError(f"positives must be ({logits.shape[0]}, {logits.shape[0]}) with a True diagonal")
    soft = pos / pos.sum(dim=1, keepdim=True)
    soft_t = pos.t() / pos.t().sum(dim=1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, soft) + F.cross_entropy(logits.t(), soft_t))


def same_report(ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, B)`` True where reports i and j are the same token sequence (padding ignored)."""
    keep = attention_mask.to(torch.bool) if attention_mask is not None else torch.ones_like(ids, dtype=torch.bool)
    seq = torch.where(keep, ids, torch.full_like(ids, -1))
    return (seq[:, None, :] == seq[None, :, :]).all(dim=-1)


class CLIP(nn.Module):
    """Image and report encoders with linear projections into a shared space.

    Parameters
    ----------
    image_encoder
        A ViT encoder (the MAE's, to start from pretrained weights).
    text_encoder
        The report encoder.
    embed_dim
        Shared embedding width.
    init_temperature
        Initial softmax temperature (CLIP: 0.07).
    pool
        How the image tokens become one feature: ``"mean"``, ``"max"`` (per feature: a small finding anywhere
        drives it) or ``"meanmax"`` (both, concatenated: global content and local findings).
    shared_positives
        Pairs of a batch whose reports are identical (templated normal reports, two series of one study)
        count as matches of each other in the loss, not as negatives (:func:`same_report`); False: CLIP's
        one-positive loss.
    """

    def __init__(
        self,
        image_encoder: ViTEncoder,
        text_encoder: TextEncoder,
        embed_dim: int = 64,
        init_temperature: float = 0.07,
        shared_positives: bool = True,
        pool: str = "mean",
    ):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        self.shared_positives = shared_positives
        self.pool = pool
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        width = image_encoder.cfg.hidden_size * (2 if pool == "meanmax" else 1)
        self.image_proj = nn.Linear(width, embed_dim, bias=False)
        self.text_proj = nn.Linear(text_encoder.width, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings ``(B, E)``."""
        tokens = self.image_encoder(images)
        feats = {"mean": [tokens.mean(dim=1)], "max": [tokens.amax(dim=1)]}
        parts = feats["mean"] + feats["max"] if self.pool == "meanmax" else feats[self.pool]
        return F.normalize(self.image_proj(torch.cat(parts, dim=-1)), dim=-1)

    def embed_texts(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Unit-norm report embeddings ``(B, E)``."""
        return F.normalize(self.text_proj(self.text_encoder(ids, attention_mask)), dim=-1)

    def forward(
        self, images: torch.Tensor, ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Loss and embeddings of a batch of paired images and reports.

        Returns
        -------
        dict
            ``loss``, ``image_emb``, ``text_emb``, ``similarity`` (image-by-report cosine, ``(B, B)``).
        """
        img = self.embed_images(images)
        txt = self.embed_texts(ids, attention_mask)
        return {
            "loss": clip_loss(
                img, txt, self.logit_scale, same_report(ids, attention_mask) if self.shared_positives else None
            ),
            "image_emb": img,
            "text_emb": txt,
            "similarity": img @ txt.t(),
        }
