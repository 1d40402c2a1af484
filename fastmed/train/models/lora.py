"""Low-rank adaptation (Hu et al. 2021) of linear layers, e.g. the encoder's attention projections.

A :class:`LoRALinear` adds ``(alpha / r) * B A x`` to a frozen linear layer, with ``B`` zero-initialised
so a fresh adapter leaves the model's outputs unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_PROJECTIONS = ("qkv", "out_proj")
"""Names of the attention projections in MONAI's ``SABlock`` (the targets by default)."""


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update.

    Parameters
    ----------
    base
        The layer to adapt (its parameters are frozen).
    r
        Rank of the update.
    alpha
        Scaling numerator: the update is multiplied by ``alpha / r``.
    """

    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 8.0):
        super().__init__()
        if r < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {r}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.r = r
        self.scale = alpha / r
        self.lora_a = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Base output plus the scaled low-rank update."""
        return self.base(x) + self.scale * F.linear(F.linear(x, self.lora_a), self.lora_b)

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with the update folded into its weight (for export)."""
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        out.weight.copy_(self.base.weight + self.scale * self.lora_b @ self.lora_a)
        if self.base.bias is not None and out.bias is not None:
            out.bias.copy_(self.base.bias)
        return out


def apply_lora(
    model: nn.Module,
    targets: Sequence[str] = ATTENTION_PROJECTIONS,
    r: int = 4,
    alpha: float = 8.0,
    trainable: Sequence[str] = (),
) -> list[str]:
    """Replace every ``nn.Linear`` named in ``targets`` by a :class:`LoRALinear` and freeze the rest.

    Parameters
    ----------
    model
        Module to adapt in place (e.g. a ViT encoder, or a classifier holding one).
    targets
        Attribute names of the linear layers to adapt (MONAI attention: ``qkv``, ``out_proj``).
    r, alpha
        LoRA rank and scaling.
    trainable
        Prefixes of parameter names that stay trainable besides the adapters (e.g. ``("head.",)``).

    Returns
    -------
    list of str
        Qualified names of the adapted layers.
    """
    done: list[str] = []
    for name, module in list(model.named_modules()):
        for attr in targets:
            child = getattr(module, attr, None)
            if isinstance(child, nn.Linear):
                setattr(module, attr, LoRALinear(child, r, alpha))
                done.append(f"{name}.{attr}" if name else attr)
    if not done:
        raise ValueError(f"no nn.Linear named {list(targets)} in the model")
    for pname, p in model.named_parameters():
        p.requires_grad_(".lora_" in f".{pname}" or any(pname.startswith(t) for t in trainable))
    return done


def merge_lora(model: nn.Module) -> int:
    """Fold every adapter back into a plain linear layer in place; return how many were merged."""
    count = 0
    for _name, module in list(model.named_modules()):
        for attr, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                setattr(module, attr, child.merged())
                count += 1
    return count
