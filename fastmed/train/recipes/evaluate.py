"""Held-out evaluation of each recipe (rank 0, no gradients).

MAE, CLIP and classification score the held-out studies' centre patches (the whole volume when the patch covers
it); segmentation predicts each held-out volume whole with sliding-window inference
(:func:`fastmed.sliding_window_inference`, Gaussian blending) and scores it against the stored mask.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from itertools import product
from typing import Any

import numpy as np
import torch
from torch import nn

from fastmed.train.engine.precision import autocast
from fastmed.train.metrics.auroc import UndefinedMetricWarning, auroc, auroc_macro
from fastmed.train.metrics.calibration import expected_calibration_error
from fastmed.train.metrics.dice import dice_per_class
from fastmed.train.metrics.retrieval import report_retrieval
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


def mirror_views(axes: Sequence[int]) -> list[tuple[int, ...]]:
    """Every subset of the spatial ``axes`` (0 = first) as dims of a ``(B, C, *spatial)`` batch, the identity first.

    The flips of nnU-Net's mirroring (segmentation) and of the cls test-time augmentation.
    """
    return [tuple(2 + a for a, on in zip(axes, bits, strict=True) if on) for bits in product((0, 1), repeat=len(axes))]


def _cls(
    model: nn.Module,
    batches: Iterable[Mapping[str, Any]],
    precision: str,
    device: torch.device,
    names: list[str],
    predictions: dict[str, Any] | None = None,
    tta_flips: bool = False,
) -> dict[str, float]:
    probs, labels, studies = [], [], []
    for b in batches:
        x = b["image"].to(device)
        views = mirror_views(range(x.ndim - 2)) if tta_flips else [()]
        p_sum = torch.zeros(())
        for dims in views:
            with autocast(precision, device.type):
                logits = model(torch.flip(x, dims) if dims else x)
            p_sum = p_sum + torch.sigmoid(logits.float()).cpu()
        probs.append((p_sum / len(views)).numpy())
        labels.append(np.asarray(b["labels"]))
        studies.extend(b["study"])
    p, y = np.concatenate(probs), np.concatenate(labels)
    if predictions is not None:
        predictions.update(probs=p, labels=y, studies=list(studies))
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


@torch.no_grad()
def segment_volumes(
    model: nn.Module,
    items: Sequence[Mapping[str, Any]],
    roi: Sequence[int],
    precision: str,
    device: torch.device,
    intensity: Sequence[Any] | Any = None,
    overlap: float = 0.5,
    mirror: Sequence[int] = (),
) -> dict[str, float]:
    """Dice of the lesion class on whole held-out volumes, predicted by sliding windows of the model's input size.

    Each volume gets the training normalisation first: the ops ``intensity`` (default: per-volume z-score,
    fastmed ``Normalize``), or a ``Compose`` of them (the recipes pass one from
    :func:`~fastmed.train.recipes.data.with_intensity`, which picks each series' modality's clip). Windows overlap
    by ``overlap`` of the window (nnU-Net's 0.5 by default), their predictions blended with Gaussian weights.
    ``mirror``: spatial axes (0 = first) of nnU-Net's mirroring test-time augmentation: each window is also
    predicted flipped along every subset of them, and the class probabilities are averaged.

    Returns
    -------
    dict
        ``dice`` (mean over volumes with a lesion), ``dice_global`` (pooled over all voxels), ``tp_voxels``,
        ``fp_voxels``, ``fn_voxels`` (pooled lesion-class voxel counts: where the error is), ``lesions_found``
        of ``n_eval_lesions`` (stored lesion ids with at least one predicted voxel: missed lesions against
        lesions found but under-segmented), ``n_eval_lesion_volumes``.
    """
    from fastmed.loader.inference import sliding_window_inference
    from fastmed.transforms import Compose, Normalize

    if isinstance(intensity, Compose):
        norm = intensity
    else:
        norm = Compose(list(intensity) if intensity is not None else [Normalize()], label_keys=("label",))
    was_training = model.training
    model.eval()

    flips = mirror_views(mirror)

    def predict(x: torch.Tensor) -> torch.Tensor:
        if not mirror:
            with autocast(precision, device.type):
                return model(x).float()
        probs = torch.zeros((), device=x.device)
        for dims in flips:
            with autocast(precision, device.type):
                y = model(x.flip(dims) if dims else x).float().softmax(dim=1)
            probs = probs + (y.flip(dims) if dims else y)
        return probs / len(flips)

    per_volume: list[float] = []
    tp = fp = fn = lesions = found = 0
    try:
        for item in items:
            sample = norm(item)
            out = sliding_window_inference(
                predict, np.asarray(sample["image"]), tuple(roi), overlap=overlap, device=device
            )
            pred = out.array.argmax(dim=0).cpu().numpy()
            ids = np.asarray(sample["label"])[0]
            ref = (ids > 0).astype(np.int64)
            if ref.any():
                per_volume.append(float(dice_per_class(pred, ref, [1])[0]))
            hit = pred == 1
            tp += int(np.logical_and(hit, ref == 1).sum())
            fp += int(np.logical_and(hit, ref == 0).sum())
            fn += int(np.logical_and(~hit, ref == 1).sum())
            for lesion in np.unique(ids[ids > 0]):  # each stored lesion id: found if any of its voxels is
                lesions += 1
                found += bool(hit[ids == lesion].any())
    finally:
        model.train(was_training)
    total = 2 * tp + fp + fn
    return {
        "dice": float(np.mean(per_volume)) if per_volume else float("nan"),
        "dice_global": 2.0 * tp / total if total > 0 else float("nan"),
        "n_eval_lesion_volumes": float(len(per_volume)),
        "tp_voxels": float(tp),
        "fp_voxels": float(fp),
        "fn_voxels": float(fn),
        "lesions_found": float(found),
        "n_eval_lesions": float(lesions),
    }


def _clip(model: CLIP, batches: Iterable[Mapping[str, Any]], precision: str, device: torch.device) -> dict[str, float]:
    img: list[torch.Tensor] = []
    reports: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}
    report_of: list[tuple[int, ...]] = []
    for b in batches:
        with autocast(precision, device.type):
            img.append(model.embed_images(b["image"].to(device)).float().cpu())
        for ids, mask in zip(b["report_ids"], b["report_mask"], strict=True):
            key = tuple(ids[mask.to(torch.bool)].tolist())
            reports.setdefault(key, (ids, mask))
            report_of.append(key)
    # each distinct report text is one item (templated reports repeat): embedded once, in one batch
    keys = list(reports)
    ids_t = torch.stack([reports[k][0] for k in keys]).to(device)
    mask_t = torch.stack([reports[k][1] for k in keys]).to(device)
    with autocast(precision, device.type):
        txt = model.embed_texts(ids_t, mask_t).float().cpu()
    sim = (torch.cat(img) @ txt.t()).numpy()
    column = {k: j for j, k in enumerate(keys)}
    out = report_retrieval(sim, [column[k] for k in report_of], (1, 5))
    out["chance_r@1"] = out["chance_i2t_r@1"]
    out["n_eval_pairs"] = float(len(report_of))
    out["n_eval_reports"] = float(len(keys))
    return out


@torch.no_grad()
def evaluate(
    task: str,
    model: nn.Module,
    batches: Iterable[Mapping[str, Any]],
    precision: str = "fp32",
    device: torch.device | None = None,
    label_names: list[str] | None = None,
    predictions: dict[str, Any] | None = None,
    tta_flips: bool = False,
) -> dict[str, float]:
    """Held-out metrics of ``task`` (``model`` unwrapped from DDP).

    ``predictions``: a dict that ``cls`` fills with the held-out ``probs`` and ``labels`` (series x labels)
    and the ``studies`` of the series (for a reliability diagram or a ROC curve). ``tta_flips``: ``cls``
    probabilities averaged over the input and its mirror images along every combination of spatial axes.

    Returns
    -------
    dict
        ``mae``: ``eval_loss``; ``cls``: ``auroc`` (macro over labels, per series), ``auroc/<label>``,
        ``auroc_study`` (series scores averaged per study), ``ece``; ``clip``: recall@1/5 both ways over the
        distinct held-out reports with their chance values (:func:`~fastmed.train.metrics.retrieval.report_retrieval`;
        ``chance_r@1`` = image->text chance = 1 / distinct reports), ``n_eval_pairs``, ``n_eval_reports``
        (segmentation: :func:`segment_volumes`).
    """
    dev = device if device is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        if task == "mae":
            return _mae(model, batches, precision, dev)
        if task == "cls":
            return _cls(model, batches, precision, dev, list(label_names or []), predictions, tta_flips)
        if task == "seg":
            raise ValueError("segmentation is evaluated on whole volumes: use segment_volumes")
        if not isinstance(model, CLIP):
            raise TypeError(f"the clip task evaluates a CLIP model, got {type(model).__name__}")
        return _clip(model, batches, precision, dev)
    finally:
        model.train(was_training)
