"""Classification on a pretrained ViT encoder: linear probe (frozen encoder) or full fine-tune, multi-label."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fastmed.train.models.vit import ViTEncoder

POOLS = ("mean", "max", "meanmax")
"""Ways of pooling the encoder's output tokens into the classifier's feature."""


class Classifier(nn.Module):
    """Pooled encoder features and one linear layer giving one logit per label.

    Parameters
    ----------
    encoder
        A (pretrained) ViT encoder.
    n_labels
        Number of labels (independent sigmoids: multi-label).
    freeze_encoder
        True for a linear probe: the encoder's parameters get no gradient and it stays in eval mode.
    pool
        ``"mean"`` over the output tokens (global content), ``"max"`` per feature (a small local finding,
        such as a lesion, drives the feature wherever it is), or ``"meanmax"`` (both, concatenated).

    Notes
    -----
    A linear probe standardises the frozen features with a parameter-free BatchNorm before its linear layer
    (as the MAE paper's linear probing): still a linear map at inference (running statistics), and the head
    trains well whatever the features' scale and offset.
    """

    def __init__(self, encoder: ViTEncoder, n_labels: int, freeze_encoder: bool = False, pool: str = "mean"):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        self.pool = pool
        self.encoder = encoder
        self.freeze_encoder = freeze_encoder
        width = encoder.cfg.hidden_size * (2 if pool == "meanmax" else 1)
        self.head = nn.Linear(width, n_labels)
        self.feature_norm = nn.BatchNorm1d(width, affine=False) if freeze_encoder else None
        if freeze_encoder:
            for p in self.encoder.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> Classifier:
        """Set train/eval mode; a frozen encoder always stays in eval mode."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled encoder features ``(B, hidden_size)``, twice as wide for ``meanmax`` (no graph if all frozen)."""
        # LoRA adapters added to a frozen encoder (apply_lora) still train.
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.encoder.parameters())
        with torch.set_grad_enabled(needs_grad):
            tokens = self.encoder(images)
            if self.pool == "meanmax":
                return torch.cat([tokens.mean(dim=1), tokens.amax(dim=1)], dim=-1)
            return tokens.mean(dim=1) if self.pool == "mean" else tokens.amax(dim=1)

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        """Logits of pooled features: the probe's feature standardisation, then the linear head."""
        if self.feature_norm is not None:
            bn = self.feature_norm
            batch_stats = self.training and feats.shape[0] > 1  # one sample: use the running statistics
            feats = F.batch_norm(
                feats.float(), bn.running_mean, bn.running_var, training=batch_stats, momentum=0.1, eps=bn.eps
            )
        return self.head(feats)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, n_labels)``."""
        return self.logits(self.features(images))


def linear_probe(encoder: ViTEncoder, n_labels: int, pool: str = "mean") -> Classifier:
    """A classifier that trains only its linear head on the frozen encoder."""
    return Classifier(encoder, n_labels, freeze_encoder=True, pool=pool)


def full_finetune(encoder: ViTEncoder, n_labels: int, pool: str = "mean") -> Classifier:
    """A classifier that trains the encoder and its head."""
    return Classifier(encoder, n_labels, freeze_encoder=False, pool=pool)


def multilabel_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits, averaged over samples and labels (``labels`` 0/1, ``(B, n_labels)``)."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.to(torch.float32))
