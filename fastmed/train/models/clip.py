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


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: mean of image->text and text->image cross-entropy, pair i matching pair i.

    Parameters
    ----------
    image_emb, text_emb
        ``(B, E)`` embeddings (normalised here).
    logit_scale
        Log of the inverse temperature (a learnable scalar); clamped to ``[0, log 100]``.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    img = F.normalize(image_emb.float(), dim=-1)
    txt = F.normalize(text_emb.float(), dim=-1)
    logits = logit_scale.clamp(0.0, MAX_LOGIT_SCALE).exp() * img @ txt.t()
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


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
    """

    def __init__(
        self, image_encoder: ViTEncoder, text_encoder: TextEncoder, embed_dim: int = 64, init_temperature: float = 0.07
    ):
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.image_proj = nn.Linear(image_encoder.cfg.hidden_size, embed_dim, bias=False)
        self.text_proj = nn.Linear(text_encoder.width, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings ``(B, E)``."""
        return F.normalize(self.image_proj(self.image_encoder.pooled(images)), dim=-1)

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
            "loss": clip_loss(img, txt, self.logit_scale),
            "image_emb": img,
            "text_emb": txt,
            "similarity": img @ txt.t(),
        }
