"""The recipes' data path: store -> study split -> task items -> fastmed ``Compose`` -> ``fm.DataLoader``.

Everything a model step needs is made on the data side: the crop and intensity normalisation (one fused
``Compose`` pass, read from the store's chunks), the MAE mask (keyed Philox, :func:`mae_mask`), the class-label
vector and, for CLIP, the tokenized report. Batches come from :class:`fastmed.DataLoader` (its fast path:
lazy store items and a ``Compose``), so order, augmentation and MAE masks are functions of the seed and resume
exactly from the loader's ``state_dict``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastmed.store.dataset import VolumeDataset
from fastmed.train.models.masking import mae_mask, mae_masks
from fastmed.train.recipes.config import DataConfig
from fastmed.train.text.tokenizer import ReportTokenizer
from fastmed.transforms import CenterCrop, Clip, Compose, Letterbox, Normalize, RandomCrop, RandomFlip
from fastmed.transforms.batch_out import out_mapping


class TaskCompose(Compose):
    """A fastmed ``Compose`` that also draws each sample's MAE mask and drops the replay record.

    The mask of sample ``index`` in ``epoch`` is ``mae_mask(mae_grid, mae_ratio, seed, epoch, index)`` with the
    loader's keys, so any worker, rank or resumed run gets the same mask and the model step does no random work.

    Parameters
    ----------
    ops
        Compose ops.
    mae_grid
        Patch grid of the model input (``None``: no mask).
    mae_ratio
        Fraction of patches masked.
    by_modality
        ``{modality: ops}``: samples whose ``"modality"`` is a key run those ops instead of ``ops`` (e.g. a CT
        window on the CT series of a CT + MR store). A batch is split by modality into one fused pass per
        group; each sample keeps its own key ``(seed, index, epoch)``, so it equals the single-sample call.
    **kwargs
        Passed to :class:`~fastmed.transforms.Compose`.
    """

    def __init__(
        self,
        ops: Sequence[Any],
        mae_grid: Sequence[int] | None = None,
        mae_ratio: float = 0.75,
        by_modality: Mapping[str, Sequence[Any]] | None = None,
        **kwargs: Any,
    ):
        super().__init__(ops, **kwargs)
        self.mae_grid = tuple(int(g) for g in mae_grid) if mae_grid is not None else None
        self.mae_ratio = float(mae_ratio)
        self.by_modality = {
            str(m): TaskCompose(v, mae_grid, mae_ratio, **kwargs) for m, v in (by_modality or {}).items()
        }

    def variant(self, sample: Mapping[str, Any]) -> TaskCompose:
        """The compose that runs ``sample``: its modality's, or this one."""
        if not self.by_modality:
            return self
        return self.by_modality.get(str(sample.get("modality")), self)

    def without(self, kind: type) -> TaskCompose:
        """A copy without the ops of type ``kind``, in its own ops and in each modality's."""

        def keep(ops: Sequence[Any]) -> list[Any]:
            return [op for op in ops if not isinstance(op, kind)]

        return TaskCompose(
            keep(self.ops),
            self.mae_grid,
            self.mae_ratio,
            by_modality={m: keep(v.ops) for m, v in self.by_modality.items()},
            label_keys=tuple(self.label_keys),
        )

    def _add(self, out: dict[str, Any], seed: int, index: int, epoch: int) -> dict[str, Any]:
        out.pop("params", None)
        if self.mae_grid is not None:
            out["mae_mask"] = mae_mask(self.mae_grid, self.mae_ratio, seed, epoch, index)
        return out

    def _finish(
        self, sample: Mapping[str, Any], arrays: Mapping[str, Any], plan: Any, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        out = super()._finish(sample, arrays, plan, {})  # the replay record is dropped: not made
        out.pop("params", None)
        return out

    def __call__(self, sample: Mapping[str, Any], seed: int = 0, index: int = 0, epoch: int = 0) -> dict[str, Any]:
        """Augment one sample (with its modality's ops) and add its MAE mask."""
        chosen = self.variant(sample)
        if chosen is not self:
            return chosen(sample, seed, index, epoch)
        return self._add(super().__call__(sample, seed, index, epoch), seed, index, epoch)

    def batch(
        self,
        samples: Sequence[Mapping[str, Any]],
        seed: int = 0,
        indices: Sequence[int] | None = None,
        epoch: int = 0,
        stack: bool = False,
        out: Any = None,
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """As :meth:`Compose.batch`, each output with its MAE mask (``stack`` is not supported)."""
        if stack:
            raise ValueError("TaskCompose.batch: stack=True is not supported")
        idx = list(range(len(samples))) if indices is None else [int(i) for i in indices]
        groups: dict[int, list[int]] = {}
        chosen = [self.variant(s) for s in samples]
        for pos, c in enumerate(chosen):
            groups.setdefault(id(c), []).append(pos)
        if len(groups) == 1:
            return chosen[0]._batch(samples, seed, idx, epoch, out)
        # one fused pass per modality; each output then goes to its row of the caller's batch arrays
        outs_map = out_mapping(out, self.image_keys[0])
        outs: list[dict[str, Any]] = [{} for _ in samples]
        for rows in groups.values():
            part = chosen[rows[0]]._batch([samples[r] for r in rows], seed, [idx[r] for r in rows], epoch, None)
            for r, o in zip(rows, part, strict=True):
                for key, arr in outs_map.items():
                    _copy_row(arr, r, o[key])
                    o[key] = arr[r]
                outs[r] = o
        return outs

    def _batch(
        self, samples: Sequence[Mapping[str, Any]], seed: int, idx: list[int], epoch: int, out: Any
    ) -> list[dict[str, Any]]:
        outs = super().batch(samples, seed=seed, indices=idx, epoch=epoch, out=out)
        assert isinstance(outs, list)
        if self.mae_grid is None:
            return outs
        masks = mae_masks(self.mae_grid, self.mae_ratio, seed, epoch, idx)  # one keyed draw for the batch
        for o, m in zip(outs, masks, strict=True):
            o["mae_mask"] = m
        return outs


def _copy_row(batch: Any, row: int, value: Any) -> None:
    """Write one sample's output into row ``row`` of a numpy or torch batch array."""
    if isinstance(batch, np.ndarray):
        batch[row] = np.asarray(value)
    else:
        import torch

        batch[row].copy_(torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value))


class TaskItems:
    """Items of some series of a :class:`~fastmed.VolumeDataset`, holding what one task needs.

    An item is ``{"image": LazyVolume, "spacing", "labels": float32 (n_labels,), "study": str, "modality": str,
    "index": int}`` (``index``: the item's position here; ``modality``: the series' DICOM Modality) plus
    ``"label"`` (the mask handle) for segmentation and ``"report_ids"`` / ``"report_mask"`` for CLIP.
    Handles stay lazy, so ``fm.DataLoader`` takes its fast path.

    Parameters
    ----------
    ds
        The store's dataset.
    indices
        Series of ``ds`` in this split.
    label_index
        Positions of the task's labels in ``ds.label_names``.
    with_mask
        Include the lesion mask handle.
    tokenizer, max_len
        Tokenize the report (CLIP).
    """

    def __init__(
        self,
        ds: VolumeDataset,
        indices: Sequence[int],
        label_index: Sequence[int] = (),
        with_mask: bool = False,
        tokenizer: ReportTokenizer | None = None,
        max_len: int = 64,
    ):
        self.ds = ds
        self.indices = [int(i) for i in indices]
        self.label_index = [int(i) for i in label_index]
        self.with_mask = with_mask
        self.tokenizer = tokenizer
        self.max_len = max_len

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict[str, Any]:
        src = self.ds[self.indices[k]]
        item: dict[str, Any] = {
            "image": src["image"],
            "spacing": src["spacing"],
            "labels": np.asarray(src["labels"], dtype=np.float32)[self.label_index],
            "study": src["study_id"],
            "modality": str(src["modality"]),
            "index": k,
        }
        if self.with_mask:
            if "label" not in src:
                raise ValueError(f"series {src['id']} has no mask in the store (segmentation needs one)")
            item["label"] = src["label"]
        if self.tokenizer is not None:
            ids, mask = self.tokenizer.encode_batch([src["report"]], self.max_len)
            item["report_ids"], item["report_mask"] = ids[0], mask[0]
        return item

    def reports(self) -> list[str]:
        """The report of each item."""
        return [self.ds[i]["report"] for i in self.indices]


@dataclass
class Split:
    """Series indices of the training and held-out studies."""

    train: list[int]
    holdout: list[int]


def _rank_key(seed: int, study: str) -> str:
    return hashlib.sha256(f"{seed}:{study}".encode()).hexdigest()


def split_by_study(
    ds: VolumeDataset,
    spatial_dims: int,
    holdout: float,
    seed: int,
    stratify: str | None = None,
    modalities: Sequence[str] | None = None,
) -> Split:
    """Hold out a seeded fraction of studies (every series of a study on one side).

    Only series with ``spatial_dims`` image axes take part, and with ``modalities`` only series of those
    modalities (DICOM Modality, e.g. ``["CT"]``). Studies are ordered by a hash of
    ``(seed, study id)``; with ``stratify`` (a label name) the fraction is taken within each value of that
    label (at least one study of each value with two or more studies on either side), so both classes reach
    the held-out set.
    """
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    names = list(ds.label_names)
    col = names.index(stratify) if stratify in names else None
    studies: dict[str, list[int]] = {}
    strata: dict[str, float] = {}
    for i in range(len(ds)):
        item = ds[i]
        if item["image"].ndim != spatial_dims or (modalities is not None and item["modality"] not in modalities):
            continue
        sid = str(item["study_id"])
        studies.setdefault(sid, []).append(i)
        if col is not None:
            strata[sid] = float(item["labels"][col])
    if not studies:
        among = f" of modality {sorted(modalities)}" if modalities is not None else ""
        raise ValueError(f"the store has no {spatial_dims}D series{among}")
    groups: dict[float, list[str]] = {}
    for sid in studies:
        groups.setdefault(strata.get(sid, 0.0), []).append(sid)
    held: set[str] = set()
    for key in sorted(groups, key=lambda v: (np.isnan(v), v)):
        members = sorted(groups[key], key=lambda s: _rank_key(seed, s))
        k = int(round(holdout * len(members)))
        if holdout > 0 and len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)  # every stratum on both sides
        held.update(members[:k])
    train = sorted(i for s, idx in studies.items() if s not in held for i in idx)
    hold = sorted(i for s, idx in studies.items() if s in held for i in idx)
    return Split(train, hold)


def intensity_ops(clip: Sequence[float] | None = None) -> list[Any]:
    """The recipes' intensity normalisation: an optional clip to ``clip = (low, high)``, then a per-volume z-score.

    The z-score's statistics are those of the whole source volume after the clip (``fm.Normalize``).
    """
    if clip is None:
        return [Normalize()]
    if len(clip) != 2:
        raise ValueError(f"intensity_clip must be [low, high], got {list(clip)}")
    return [Clip(float(clip[0]), float(clip[1])), Normalize()]


def train_compose(
    patch: Sequence[int],
    mae_grid: Sequence[int] | None,
    mae_ratio: float,
    seg: bool,
    whole: bool = False,
    flip: float = 0.0,
) -> TaskCompose:
    """Random crop of ``patch`` (``whole``: the whole volume letterboxed into ``patch``) and per-volume z-score.

    ``flip`` > 0 adds a random flip of each axis with that probability (``fm.RandomFlip``) after the crop. The
    z-score uses the statistics of the whole source volume (:func:`with_intensity` adds a clip before it).
    """
    first = Letterbox(tuple(patch)) if whole else RandomCrop(tuple(patch))
    spatial = [first, RandomFlip(p=float(flip))] if flip > 0 else [first]
    return TaskCompose([*spatial, Normalize()], mae_grid, mae_ratio, label_keys=("label",) if seg else ())


def eval_compose(
    patch: Sequence[int], mae_grid: Sequence[int] | None, mae_ratio: float, seg: bool, whole: bool = False
) -> TaskCompose:
    """Centre crop of ``patch`` (padding a smaller volume; ``whole``: letterbox) and the training normalisation."""
    first = Letterbox(tuple(patch)) if whole else CenterCrop(tuple(patch))
    return TaskCompose([first, Normalize()], mae_grid, mae_ratio, label_keys=("label",) if seg else ())


def with_intensity(
    compose: TaskCompose, clip: Sequence[float] | None, by_modality: Mapping[str, Sequence[float]] | None = None
) -> TaskCompose:
    """``compose`` with its z-score replaced by :func:`intensity_ops` of ``clip``, or of a modality's own clip.

    ``by_modality`` (``{"CT": [-160, 240]}``) gives the clip of the series of each of its modalities; with no
    ``clip`` and no ``by_modality``, ``compose`` itself.
    """
    if clip is None and not by_modality:
        return compose
    ops = [op for op in compose.ops if not isinstance(op, Normalize)]
    return TaskCompose(
        [*ops, *intensity_ops(clip)],
        compose.mae_grid,
        compose.mae_ratio,
        by_modality={m: [*ops, *intensity_ops(c)] for m, c in (by_modality or {}).items()},
        label_keys=tuple(compose.label_keys),
    )


def make_loader(items: TaskItems, compose: TaskCompose, cfg: DataConfig, seed: int, train: bool) -> Any:
    """``fm.DataLoader`` over ``items``: shuffled full batches for training; in order, rank 0 only, for evaluation."""
    from fastmed.loader import DataLoader

    if train:
        if len(items) < cfg.batch_size:
            raise ValueError(f"{len(items)} training series for batch_size {cfg.batch_size}")
        extra: dict[str, Any] = {}
        if items.with_mask and cfg.foreground_prob > 0:
            from fastmed.loader import LabelPatchSampler

            # the sampler places the patch (that share centred on lesion voxels); the Compose only normalises
            patch = [op for op in compose.ops if isinstance(op, RandomCrop)][0].size
            compose = compose.without(RandomCrop)
            extra["patch_sampler"] = LabelPatchSampler(tuple(patch), foreground_prob=cfg.foreground_prob)
        return DataLoader(
            items,
            batch_size=cfg.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=cfg.num_workers,
            transform=compose,
            seed=seed,
            **extra,
        )
    return DataLoader(
        items,
        batch_size=cfg.eval_batch_size,
        shuffle=False,
        num_workers=cfg.num_workers,
        transform=compose,
        seed=seed,
        rank=0,
        world_size=1,
    )


def endless(loader: Any) -> Generator[Any, None, None]:
    """The loader's batches epoch after epoch (the loader advances its epoch after each full pass)."""
    while True:
        n = 0
        for batch in loader:
            n += 1
            yield batch
        if n == 0:
            raise ValueError("the training loader delivered no batch in a whole epoch")
