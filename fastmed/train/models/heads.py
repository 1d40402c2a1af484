"""Classification on a pretrained ViT encoder: linear probe (frozen encoder) or full fine-tune, multi-label."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fastmed.train.models.vit import ViTEncoder


class Classifier(nn.Module):
    """Mean-pooled encoder features and one linear layer giving one logit per label.

    Parameters
    ----------
    encoder
        A (pretrained) ViT encoder.
    n_labels
        Number of labels (independent sigmoids: multi-label).
    freeze_encoder
        True for a linear probe: the encoder's parameters get no gradient and it stays in eval mode.
    """

    def __init__(self, encoder: ViTEncoder, n_labels: int, freeze_encoder: bool = False):
        super().__init__()
        self.encoder = encoder
        self.freeze_encoder = freeze_encoder
        self.head = nn.Linear(encoder.cfg.hidden_size, n_labels)
        if freeze_encoder:
            for p in self.encoder.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> Classifier:
        """Set train/eval mode; a frozen encoder always stays in eval mode."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, n_labels)``."""
        # No graph through a fully frozen encoder; LoRA adapters added to it (apply_lora) still train.
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.encoder.parameters())
        with torch.set_grad_enabled(needs_grad):
            feats = self.encoder.pooled(images)
        return self.head(feats)


def linear_probe(encoder: ViTEncoder, n_labels: int) -> Classifier:
    """A classifier that trains only its linear head on the frozen encoder."""
    return Classifier(encoder, n_labels, freeze_encoder=True)


def full_finetune(encoder: ViTEncoder, n_labels: int) -> Classifier:
    """A classifier that trains the encoder and its head."""
    return Classifier(encoder, n_labels, freeze_encoder=False)


def multilabel_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits, averaged over samples and labels (``labels`` 0/1, ``(B, n_labels)``)."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.to(torch.float32))
