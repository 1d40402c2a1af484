"""The demo's training stages: short MAE pretraining on the store, then a linear probe for lesion presence.

Built from the engine pieces (:mod:`fastmed.train.engine`): :class:`fastmed.DataLoader` feeds patches
cut from the store's CT/MR volumes (its fast path: lazy volumes, one ``Compose.batch`` per batch),
:func:`~fastmed.train.engine.loop.run_steps` trains and times the data wait, and each run writes its
:class:`~fastmed.train.engine.explog.ExperimentLog`. The MAE mask of each sample is the keyed
:func:`~fastmed.train.models.masking.mae_mask` of ``(seed, epoch, position)``.

The probe's target is "a lesion is inside the patch" (any voxel of the patch's lesion mask), trained on
some studies and scored on held-out ones (per modality, the last study of two or more).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm.auto import tqdm

from fastmed.loader import DataLoader
from fastmed.store.dataset import VolumeDataset
from fastmed.train.engine.explog import ExperimentLog
from fastmed.train.engine.loop import LoopState, run_steps
from fastmed.train.engine.steps import classification_step, mae_step
from fastmed.train.models.config import ViTConfig, get_config
from fastmed.train.models.heads import linear_probe
from fastmed.train.models.mae import MAE
from fastmed.train.models.masking import mae_mask
from fastmed.transforms import Compose, RandomCrop, RandomFlip, ScaleIntensity

PATCH = (16, 32, 32)
MASK_RATIO = 0.75


@dataclass
class TrainOutcome:
    """What the demo's training stages produced."""

    mae: LoopState
    probe: LoopState
    probe_labels: npt.NDArray[np.int64]
    probe_scores: npt.NDArray[np.float64]
    train_studies: int
    held_out_studies: int
    notes: list[str] = field(default_factory=list)


class _Subset:
    """Some items of a dataset (map-style, picklable)."""

    def __init__(self, ds: VolumeDataset, indices: Sequence[int]):
        self.ds = ds
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.ds[self.indices[i]]


def model_config() -> ViTConfig:
    """``vit3d_tiny`` on the demo's ``16x32x32`` patches (8-voxel patches: 2x4x4 tokens)."""
    return get_config("vit3d_tiny").with_(img_size=PATCH)


def split_studies(ds: VolumeDataset, indices: Sequence[int]) -> tuple[list[int], list[int]]:
    """Training and held-out item indices: per modality, the last of two or more studies is held out."""
    studies: dict[str, list[str]] = {}
    for i in indices:
        item = ds[i]
        seen = studies.setdefault(str(item["modality"]), [])
        if item["study_id"] not in seen:
            seen.append(str(item["study_id"]))
    held = {s[-1] for s in studies.values() if len(s) >= 2}
    train = [i for i in indices if ds[i]["study_id"] not in held]
    return train, [i for i in indices if ds[i]["study_id"] in held]


def volume_indices(ds: VolumeDataset) -> list[int]:
    """Items that are 3-D volumes (CT/MR series; radiographs are 2-D)."""
    return [i for i in range(len(ds)) if len(ds[i]["image"].shape) == 3 and ds[i]["image"].shape[0] > 1]


def _forever(loader: DataLoader) -> Iterator[Mapping[str, Any]]:
    while True:
        yield from loader


def _with_masks(batches: Iterator[Mapping[str, Any]], grid: Sequence[int], seed: int) -> Iterator[Mapping[str, Any]]:
    pos = 0
    for b in batches:
        n = int(b["image"].shape[0])
        masks = [mae_mask(grid, MASK_RATIO, seed, 0, pos + k) for k in range(n)]
        pos += n
        yield {**b, "mae_mask": torch.from_numpy(np.stack(masks))}


def _with_lesion_labels(batches: Iterator[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for b in batches:
        present = (b["label"] > 0).flatten(1).any(dim=1).to(torch.float32)[:, None]
        yield {"image": b["image"], "labels": present}


def _bar(total: int, desc: str, progress: bool) -> tuple[Any, Callable[[LoopState], None]]:
    bar = tqdm(total=total, desc=desc, unit="step", disable=not progress, leave=False)

    def on_step(st: LoopState) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{st.losses[-1]:.3f}", refresh=False)

    return bar, on_step


def pretrain_and_probe(
    store: Path,
    run_dir: Path,
    *,
    seed: int = 0,
    mae_steps: int = 60,
    probe_steps: int = 60,
    batch_size: int = 8,
    eval_epochs: int = 12,
    threads: int = 1,
    workers: int = 2,
    probe_lr: float = 3e-2,
    progress: bool = True,
    on_run: Callable[[str, LoopState], None] | None = None,
) -> TrainOutcome:
    """Pretrain an MAE on store patches, probe its frozen encoder for lesions, score held-out studies.

    ``on_run(name, state)`` is called after each run (``"mae"``, then ``"probe"`` once scored).
    Logs go to ``run_dir/mae`` and ``run_dir/probe``.
    """
    torch.manual_seed(seed)
    ds = VolumeDataset(store)
    vols = volume_indices(ds)
    train_idx, held_idx = split_studies(ds, vols)
    notes: list[str] = []
    if not held_idx:
        notes.append("fewer than two studies per modality: the probe is scored on its training studies")
        held_idx = train_idx
    cfg = model_config()
    aug = Compose([RandomCrop(PATCH), RandomFlip(), ScaleIntensity()], threads=threads)
    crop = Compose([RandomCrop(PATCH), ScaleIntensity()], threads=threads)

    def loader(indices: Sequence[int], transform: Compose, s: int, shuffle: bool = True) -> DataLoader:
        sub = _Subset(ds, indices)
        return DataLoader(sub, batch_size=batch_size, shuffle=shuffle, seed=s, transform=transform, num_workers=workers)

    mae = MAE(cfg)
    opt = torch.optim.AdamW(mae.parameters(), lr=1.5e-3, weight_decay=0.05)
    bar, on_step = _bar(mae_steps, "MAE pretraining", progress)
    with ExperimentLog(run_dir / "mae", run_name="demo-mae") as log:
        log.log_params({"model": "vit3d_tiny", "img_size": list(PATCH), "mask_ratio": MASK_RATIO, "seed": seed})

        def mae_log(st: LoopState) -> None:
            on_step(st)
            log.log(step=st.step, loss=st.losses[-1], samples_per_s=st.samples_per_s, data_wait=st.data_wait_fraction)

        batches = _with_masks(_forever(loader(vols, aug, seed)), cfg.grid, seed)
        mae_state = run_steps(mae, opt, batches, mae_step, max_steps=mae_steps, on_step=mae_log)
    bar.close()
    if on_run is not None:
        on_run("mae", mae_state)

    probe = linear_probe(mae.encoder, 1)
    popt = torch.optim.AdamW(probe.head.parameters(), lr=probe_lr)
    bar, on_step = _bar(probe_steps, "linear probe", progress)
    with ExperimentLog(run_dir / "probe", run_name="demo-probe") as log:

        def probe_log(st: LoopState) -> None:
            on_step(st)
            log.log(step=st.step, loss=st.losses[-1], samples_per_s=st.samples_per_s, data_wait=st.data_wait_fraction)

        batches = _with_lesion_labels(_forever(loader(train_idx, aug, seed + 1)))
        probe_state = run_steps(probe, popt, batches, classification_step, max_steps=probe_steps, on_step=probe_log)
    bar.close()

    labels: list[npt.NDArray[np.float32]] = []
    scores: list[npt.NDArray[np.float32]] = []
    probe.eval()
    held = loader(held_idx, crop, seed + 2, shuffle=False)
    with torch.no_grad():
        for _ in range(eval_epochs):
            for b in _with_lesion_labels(iter(held)):
                labels.append(b["labels"][:, 0].numpy())
                scores.append(torch.sigmoid(probe(b["image"]))[:, 0].numpy())
    n_train = len({ds[i]["study_id"] for i in train_idx})
    n_held = len({ds[i]["study_id"] for i in held_idx})
    if on_run is not None:
        on_run("probe", probe_state)
    return TrainOutcome(
        mae_state,
        probe_state,
        np.concatenate(labels).astype(np.int64),
        np.concatenate(scores).astype(np.float64),
        n_train,
        n_held,
        notes,
    )
