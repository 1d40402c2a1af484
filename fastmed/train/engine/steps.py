"""Step functions ``step_fn(model, batch) -> loss`` for each task, reading the loader's batch dicts.

Batch keys: ``image`` ``(B, C, *spatial)``; ``mae_mask`` ``(B, *grid)`` bool (drawn on the data side by
:func:`~fastmed.train.models.masking.mae_mask`); ``labels`` ``(B, n_labels)`` 0/1; ``report`` (list of
str) or ``report_ids`` / ``report_mask`` (already tokenized on the data side); a label map for
segmentation under a key of the caller's choosing (``"mask"`` by default).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from fastmed.train.engine.loop import StepFn
from fastmed.train.models.heads import multilabel_loss
from fastmed.train.text.tokenizer import ReportTokenizer


def _tensor(v: Any) -> torch.Tensor:
    return v if isinstance(v, torch.Tensor) else torch.as_tensor(v)


def mae_step(model: torch.nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
    """MAE loss of ``batch["image"]`` with the data side's ``batch["mae_mask"]``."""
    return model(_tensor(batch["image"]), _tensor(batch["mae_mask"]))["loss"]


def classification_step(model: torch.nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
    """Multi-label BCE of ``model(batch["image"])`` against ``batch["labels"]``."""
    return multilabel_loss(model(_tensor(batch["image"])), _tensor(batch["labels"]))


def make_segmentation_step(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], label_key: str = "mask"
) -> StepFn:
    """Step computing ``loss_fn(model(image), batch[label_key])`` (e.g. Dice + CE on a label map)."""

    def step(model: torch.nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        labels = _tensor(batch[label_key])
        if labels.ndim == batch["image"].ndim - 1:
            labels = labels.unsqueeze(1)  # (B, *spatial) -> (B, 1, *spatial)
        return loss_fn(model(_tensor(batch["image"])), labels)

    return step


def make_clip_step(tokenizer: ReportTokenizer | None = None, max_len: int = 128) -> StepFn:
    """Step computing the CLIP loss of image-report pairs.

    Uses ``batch["report_ids"]`` / ``batch["report_mask"]`` when the data side tokenized the reports,
    otherwise tokenizes ``batch["report"]`` with ``tokenizer`` (to ``max_len`` tokens).
    """

    def step(model: torch.nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        if "report_ids" in batch:
            ids = _tensor(batch["report_ids"])
            mask = _tensor(batch["report_mask"]) if "report_mask" in batch else None
        else:
            if tokenizer is None:
                raise ValueError("batch has raw reports but the CLIP step was given no tokenizer")
            ids_np, mask_np = tokenizer.encode_batch(list(batch["report"]), max_len)
            ids, mask = torch.from_numpy(ids_np), torch.from_numpy(mask_np)
        return model(_tensor(batch["image"]), ids, mask)["loss"]

    return step
