"""Held-out evaluation of each recipe (rank 0, no gradients, on the held-out studies' centre patches).

Segmentation is scored on centre patches of the held-out volumes (the whole volume when the patch covers it)
until sliding-window inference (``fm.sliding_window_inference``) lands.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from fastmed.train.engine.precision import autocast
from fastmed.train.metrics.auroc import UndefinedMetricWarning, auroc, auroc_macro
from fastmed.train.metrics.calibration import expected_calibration_error
from fastmed.train.metrics.dice import dice_per_class
from fastmed.train.metrics.retrieval import retrieval_recalls
from fastmed.train.models.clip import CLIP


def _mae(
    model: nn.Module, batches: Iterable[Mapping[str, Any]], precision: str, device: torch.device
) -> dict[str, float]:
    losses, weights = [], []
    for b in batches:
        with autocast(precision, device.type):
            out = model(b["image"].to(device), b["mae_mask"].to(device))
        losses.append(float(out["loss"]))
        weights.append(int(b["image"].shape[0]))
    return {"eval_loss": float(np.average(losses, weights=weights))}


def _cls(
    model: nn.Module, batches: Iterable[Mapping[str, Any]], precision: str, device: torch.device, names: list[str]
) -> dict[str, float]:
    probs, labels, studies = [], [], []
    for b in batches:
        with autocast(precision, device.type):
            logits = model(b["image"].to(device))
        probs.append(torch.sigmoid(logits.float()).cpu().numpy())
        labels.append(np.asarray(b["labels"]))
        studies.extend(b["study"])
    p, y = np.concatenate(probs), np.concatenate(labels)
    out: dict[str, float] = {"n_eval": float(len(p))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        macro, per = auroc_macro(y, p)
        out["auroc"] = macro
        for name, v in zip(names, per, strict=True):
            out[f"auroc/{name}"] = float(v)
        # one score per study: the mean over its series (labels are study-level)
        keys = sorted(set(studies))
        sp = np.stack([p[[s == k for s in studies]].mean(axis=0) for k in keys])
        sy = np.stack([y[[s == k for s in studies]][0] for k in keys])
        out["auroc_study"] = float(np.nanmean([auroc(sy[:, j], sp[:, j]) for j in range(sy.shape[1])]))
        out["n_eval_studies"] = float(len(keys))
    out["ece"] = expected_calibration_error(y.ravel(), p.ravel())
    return out


def _seg(
    model: nn.Module, batches: Iterable[Mapping[str, Any]], precision: str, device: torch.device
) -> dict[str, float]:
    per_volume, inter, total = [], 0.0, 0.0
    for b in batches:
        with autocast(precision, device.type):
            logits = model(b["image"].to(device))
        pred = logits.float().argmax(dim=1).cpu().numpy()
        ref = (np.asarray(b["label"])[:, 0] > 0).astype(np.int64)
        for pv, rv in zip(pred, ref, strict=True):
            d = dice_per_class(pv, rv, [1])[0]
            if rv.any():
                per_volume.append(float(d))
            inter += float(np.logical_and(pv == 1, rv == 1).sum())
            total += float((pv == 1).sum() + (rv == 1).sum())
    return {
        "dice": float(np.mean(per_volume)) if per_volume else float("nan"),
        "dice_global": 2.0 * inter / total if total > 0 else float("nan"),
        "n_eval_lesion_volumes": float(len(per_volume)),
    }


def _clip(model: CLIP, batches: Iterable[Mapping[str, Any]], precision: str, device: torch.device) -> dict[str, float]:
    img: list[torch.Tensor] = []
    txt: list[torch.Tensor] = []
    ids: list[tuple[int, ...]] = []
    for b in batches:
        with autocast(precision, device.type):
            img.append(model.embed_images(b["image"].to(device)).float().cpu())
            txt.append(model.embed_texts(b["report_ids"].to(device), b["report_mask"].to(device)).float().cpu())
        ids.extend(tuple(r.tolist()) for r in b["report_ids"])
    sim = (torch.cat(img) @ torch.cat(txt).t()).numpy()
    out = retrieval_recalls(sim, (1, 5))
    # identical reports tie, and ties count for the match: a random scorer finds the right report
    # among the distinct ones, so chance recall@1 is 1 / distinct reports (image->text).
    out["chance_r@1"] = 1.0 / len(set(ids))
    out["n_eval_pairs"] = float(len(ids))
    return out


@torch.no_grad()
def evaluate(
    task: str,
    model: nn.Module,
    batches: Iterable[Mapping[str, Any]],
    precision: str = "fp32",
    device: torch.device | None = None,
    label_names: list[str] | None = None,
) -> dict[str, float]:
    """Held-out metrics of ``task`` (``model`` unwrapped from DDP).

    Returns
    -------
    dict
        ``mae``: ``eval_loss``; ``cls``: ``auroc`` (macro over labels, per series), ``auroc/<label>``,
        ``auroc_study`` (series scores averaged per study), ``ece``; ``seg``: ``dice`` (lesion class, mean
        over held-out patches holding a lesion), ``dice_global``; ``clip``: recall@1/5 both ways and
        ``chance_r@1``.
    """
    dev = device if device is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        if task == "mae":
            return _mae(model, batches, precision, dev)
        if task == "cls":
            return _cls(model, batches, precision, dev, list(label_names or []))
        if task == "seg":
            return _seg(model, batches, precision, dev)
        if not isinstance(model, CLIP):
            raise TypeError(f"the clip task evaluates a CLIP model, got {type(model).__name__}")
        return _clip(model, batches, precision, dev)
    finally:
        model.train(was_training)
