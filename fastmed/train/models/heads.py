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
    blocks
        Also pool the raw outputs of the encoder's last ``blocks`` transformer blocks and concatenate them with
        the pooled final (normed) tokens, as linear evaluations of self-supervised ViTs read several blocks
        (DINO's ``n_last_blocks``): earlier blocks keep more of the local detail that MAE's last block spends on
        reconstruction. 0: the final tokens only.

    Notes
    -----
    A linear probe standardises the frozen features with a parameter-free BatchNorm before its linear layer
    (as the MAE paper's linear probing): still a linear map at inference (running statistics), and the head
    trains well whatever the features' scale and offset.
    """

    def __init__(
        self, encoder: ViTEncoder, n_labels: int, freeze_encoder: bool = False, pool: str = "mean", blocks: int = 0
    ):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if not 0 <= blocks <= encoder.cfg.depth:
            raise ValueError(f"blocks must be in [0, {encoder.cfg.depth}] (the encoder's depth), got {blocks}")
        self.pool = pool
        self.blocks = int(blocks)
        self.encoder = encoder
        self.freeze_encoder = freeze_encoder
        width = encoder.cfg.hidden_size * (2 if pool == "meanmax" else 1) * (1 + self.blocks)
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

    def _pooled(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.pool == "meanmax":
            return torch.cat([tokens.mean(dim=1), tokens.amax(dim=1)], dim=-1)
        return tokens.mean(dim=1) if self.pool == "mean" else tokens.amax(dim=1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled encoder features ``(B, width)`` (no graph if all frozen).

        ``width`` is ``hidden_size``, twice that for ``meanmax``, times ``1 + blocks``: the pooled outputs of the
        last ``blocks`` blocks, then the pooled final tokens.
        """
        # LoRA adapters added to a frozen encoder (apply_lora) still train.
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.encoder.parameters())
        with torch.set_grad_enabled(needs_grad):
            if not self.blocks:
                return self._pooled(self.encoder(images))
            tokens, hidden = self.encoder.forward_hidden(images)
            return torch.cat([self._pooled(t) for t in [*hidden[len(hidden) - self.blocks :], tokens]], dim=-1)

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


def linear_probe(encoder: ViTEncoder, n_labels: int, pool: str = "mean", blocks: int = 0) -> Classifier:
    """A classifier that trains only its linear head on the frozen encoder."""
    return Classifier(encoder, n_labels, freeze_encoder=True, pool=pool, blocks=blocks)


def full_finetune(encoder: ViTEncoder, n_labels: int, pool: str = "mean", blocks: int = 0) -> Classifier:
    """A classifier that trains the encoder and its head."""
    return Classifier(encoder, n_labels, freeze_encoder=False, pool=pool, blocks=blocks)


def multilabel_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits, averaged over samples and labels (``labels`` 0/1, ``(B, n_labels)``)."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.to(torch.float32))
