"""Model and step function of each recipe, built from the run configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastmed.train.engine.loop import StepFn
from fastmed.train.engine.steps import classification_step, mae_step, make_clip_step
from fastmed.train.models.clip import CLIP
from fastmed.train.models.config import ViTConfig
from fastmed.train.models.heads import full_finetune, linear_probe
from fastmed.train.models.lora import apply_lora
from fastmed.train.models.mae import MAE
from fastmed.train.models.unetr import UNETR, dice_ce_loss
from fastmed.train.models.vit import ViTEncoder
from fastmed.train.recipes.config import RunConfig
from fastmed.train.text.encoder import TextEncoder
from fastmed.train.text.tokenizer import ReportTokenizer

ENCODER_PREFIXES = ("encoder.", "image_encoder.", "")
"""Where a ViT encoder sits in the checkpoints of the recipes' models (MAE / classifier / UNETR, CLIP, bare)."""


@dataclass
class Task:
    """A recipe's model, its step function and the encoder inside it."""

    model: nn.Module
    step: StepFn
    encoder: ViTEncoder


def load_encoder(encoder: ViTEncoder, path: str | PathLike[str]) -> str:
    """Load a ViT encoder's weights from a recipe checkpoint (folder or ``model.safetensors``).

    Returns
    -------
    str
        The key prefix the encoder was found under.
    """
    from safetensors.torch import load_file

    src = Path(path)
    file = src / "model.safetensors" if src.is_dir() else src
    tensors = load_file(str(file))
    want = set(encoder.state_dict())
    for prefix in ENCODER_PREFIXES:
        sub = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        if want <= set(sub):
            try:
                encoder.load_state_dict({k: sub[k] for k in want}, strict=True)
            except RuntimeError as exc:  # same names, other shapes (input size, width)
                detail = str(exc).strip().splitlines()[-1].strip()
                raise ValueError(f"{file}: the encoder's weights do not fit this model: {detail}") from None
            return prefix
    raise ValueError(f"{file}: no ViT encoder matching this model's configuration")


def segmentation_step(n_classes: int, batch_dice: bool = False) -> StepFn:
    """Dice + CE of UNETR logits against the batch's mask (lesion ids > 0 become class 1 when binary).

    ``batch_dice``: the Dice term over the whole batch (see :func:`~fastmed.train.models.unetr.dice_ce_loss`).
    """
    loss_fn = dice_ce_loss(batch=batch_dice)

    def step(model: nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        target = torch.as_tensor(batch["label"])
        target = (target > 0).long() if n_classes == 2 else target.long()
        loss: torch.Tensor = loss_fn(model(batch["image"]).float(), target)
        return loss

    return step


def build_task(cfg: RunConfig, vit: ViTConfig, tokenizer: ReportTokenizer | None, n_labels: int) -> Task:
    """The model (encoder initialised from ``cfg.pretrained`` when given) and step of ``cfg.task``."""
    encoder = ViTEncoder(vit)
    if cfg.pretrained:
        load_encoder(encoder, cfg.pretrained)
    m = cfg.model
    model: nn.Module
    if cfg.task == "mae":
        model = MAE(vit, norm_pix=m.norm_pix)
        if cfg.pretrained:
            model.encoder.load_state_dict(encoder.state_dict())
        return Task(model, mae_step, model.encoder)
    if cfg.task == "clip":
        if tokenizer is None:
            raise ValueError("the CLIP recipe needs a tokenizer")
        text = TextEncoder(
            tokenizer.vocab_size, cfg.data.report_max_len, m.text_width, m.text_depth, pad_id=tokenizer.pad_id
        )
        model = CLIP(encoder, text, m.embed_dim, m.init_temperature, m.shared_positives, m.clip_pool)
        return Task(model, make_clip_step(), encoder)
    if cfg.task == "cls":
        if m.head not in ("linear", "full"):
            raise ValueError(f"model.head must be 'linear' or 'full', got {m.head!r}")
        probe = m.head == "linear" and not m.lora
        make = linear_probe if probe else full_finetune
        model = make(encoder, n_labels, m.pool, m.probe_blocks)
        if m.lora:
            apply_lora(model, r=m.lora_r, alpha=m.lora_alpha, trainable=("head.",))
        return Task(model, classification_step, encoder)
    model = UNETR(encoder, m.n_classes, m.feature_size)
    if m.lora:
        # adapters on the encoder; the decoder (everything outside the encoder) trains in full
        apply_lora(model.encoder, r=m.lora_r, alpha=m.lora_alpha)
    return Task(model, segmentation_step(m.n_classes, m.batch_dice), encoder)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters that get gradients (a linear probe's head, LoRA adapters, or everything)."""
    return [p for p in model.parameters() if p.requires_grad]
