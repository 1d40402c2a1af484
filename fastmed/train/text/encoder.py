"""A small transformer text encoder trained from scratch (MONAI ``TransformerBlock`` with a key-padding mask)."""

from __future__ import annotations

import torch
from monai.networks.blocks import TransformerBlock
from torch import nn


class TextEncoder(nn.Module):
    """Token + position embeddings, transformer blocks, LayerNorm, mean over real tokens.

    Parameters
    ----------
    vocab_size
        Tokenizer vocabulary size.
    max_len
        Longest sequence (position embeddings).
    width, depth, num_heads
        Transformer width, number of blocks and heads.
    pad_id
        Id of the padding token.
    """

    def __init__(
        self, vocab_size: int, max_len: int, width: int = 64, depth: int = 2, num_heads: int = 4, pad_id: int = 0
    ):
        super().__init__()
        self.width = width
        self.tok = nn.Embedding(vocab_size, width, padding_idx=pad_id)
        self.pos = nn.Parameter(torch.zeros(1, max_len, width))
        self.blocks = nn.ModuleList(TransformerBlock(width, 4 * width, num_heads, qkv_bias=True) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.pad_id = pad_id
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.normal_(self.tok.weight, std=0.02)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, L)`` ids -> ``(B, width)`` features (mean of the output tokens that are not padding)."""
        if ids.shape[1] > self.pos.shape[1]:
            raise ValueError(f"sequence of {ids.shape[1]} tokens exceeds max_len {self.pos.shape[1]}")
        keep = (ids != self.pad_id) if attention_mask is None else attention_mask.to(torch.bool)
        h = self.tok(ids) + self.pos[:, : ids.shape[1]]
        for blk in self.blocks:
            h = blk(h, attn_mask=keep.to(torch.int64))
        h = self.norm(h)
        w = keep.to(h.dtype).unsqueeze(-1)
        return (h * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)
