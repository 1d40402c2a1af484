"""The demo's training stages: the MAE recipe on the store, then the linear-probe recipe on its encoder.

Both are :func:`fastmed.train.recipes.run` runs (``fm.DataLoader`` fast path from the store, keyed MAE
masks drawn on the data side, seeded study split, JSONL/CSV/MLflow logs, checkpoints). The probe
predicts ``lesion_present`` per series from the frozen MAE encoder, seeing each whole series
(``data.whole_volume``: letterboxed into the model input, so a lesion anywhere is in view); it is scored
on held-out studies. The held-out scores are computed once more here, from the probe's checkpoint, for
the report's ROC curve (their AUROC is the recipe's ``auroc`` metric). Optionally the probe is run again
on 1 % and 10 % of the training labels (:mod:`fastmed.train.recipes.label_efficiency`) for the report's
label-efficiency curve. A progress bar follows each run's ``metrics.jsonl`` (one record per step).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from fastmed.train.recipes import DataConfig, ModelConfig, RunConfig, TrainerConfig, run

PATCH = (24, 64, 64)
"""Model input: the demo volumes whole (24x64x64, 8-voxel tokens, a 3x8x8 grid), as in the learning tests; the
MAE crops it (the volume itself), the probe letterboxes each series into it (scale 1 here)."""
HOLDOUT = 0.34
"""Fraction of the studies (per lesion class) held out for scoring: a third (28 of 80 CT/MR series at 60 studies)."""
MAE_LR = 1.5e-3
NORM_PIX = True
"""MAE targets: per-patch normalised (the recipe's default, as in the learning tests)."""
PROBE_LR = 1e-2
PROBE_BATCH = 8
"""The probe's settings are the learning test's (150 steps at lr 1e-2, batch 8)."""


@dataclass
class TrainOutcome:
    """What the demo's training stages produced (``mae`` and ``probe`` are recipe ``RunResult`` s)."""

    mae: Any
    probe: Any
    probe_labels: npt.NDArray[np.int64]
    probe_scores: npt.NDArray[np.float64]
    notes: list[str] = field(default_factory=list)
    label_efficiency: Any = None


def demo_configs(
    store: Path,
    runs_dir: Path,
    seed: int,
    mae_steps: int,
    probe_steps: int,
    workers: int,
    probe_lr: float = PROBE_LR,
) -> tuple[RunConfig, RunConfig]:
    """The MAE run's and the probe run's configuration (the probe's ``pretrained`` is set after the MAE run)."""

    def data(batch: int, whole: bool) -> DataConfig:
        return DataConfig(
            store=str(store),
            patch_size=list(PATCH),
            batch_size=batch,
            num_workers=workers,
            holdout=HOLDOUT,
            whole_volume=whole,
        )

    def trainer(steps: int, lr: float) -> TrainerConfig:
        return TrainerConfig(max_steps=steps, lr=lr, log_every=1, ckpt_every=0, threads=1, resume=False)

    mae = RunConfig(
        task="mae",
        seed=seed,
        data=data(4, False),
        model=ModelConfig(norm_pix=NORM_PIX),
        trainer=trainer(mae_steps, MAE_LR),
        run_dir=str(runs_dir / "mae"),
    )
    probe = RunConfig(
        task="cls",
        seed=seed,
        data=data(PROBE_BATCH, True),
        model=ModelConfig(head="linear"),
        trainer=trainer(probe_steps, probe_lr),
        run_dir=str(runs_dir / "probe"),
    )
    return mae, probe


@contextlib.contextmanager
def follow(jsonl: Path, total: int, desc: str, progress: bool) -> Iterator[None]:
    """Show a progress bar of the records appearing in ``jsonl`` while the block runs."""
    bar = tqdm(total=total, desc=desc, unit="step", disable=not progress, leave=False)
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.3):
            n = len(jsonl.read_bytes().splitlines()) if jsonl.exists() else 0
            bar.update(min(n, total) - bar.n)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.close()


def training_series(cfg: RunConfig) -> int:
    """Number of training series of the recipe's study split for ``cfg``."""
    from fastmed.store.dataset import VolumeDataset
    from fastmed.train.recipes.data import split_by_study
    from fastmed.train.recipes.runner import model_shape

    ds = VolumeDataset(cfg.data.store)
    split = split_by_study(ds, model_shape(cfg).spatial_dims, cfg.data.holdout, cfg.seed, cfg.data.label_keys[0])
    return len(split.train)


def held_out_scores(cfg: RunConfig, checkpoint: Path) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Labels and probe probabilities of the held-out series (the split and centre patches of the recipe)."""
    import torch
    from safetensors.torch import load_file

    from fastmed.store.dataset import VolumeDataset
    from fastmed.train.recipes.data import TaskItems, eval_compose, make_loader, split_by_study
    from fastmed.train.recipes.runner import model_shape
    from fastmed.train.recipes.tasks import build_task

    vit = model_shape(cfg)
    ds = VolumeDataset(cfg.data.store)
    names = list(ds.label_names)
    label_index = [names.index(k) for k in cfg.data.label_keys]
    split = split_by_study(ds, vit.spatial_dims, cfg.data.holdout, cfg.seed, stratify=cfg.data.label_keys[0])
    items = TaskItems(ds, split.holdout, label_index)
    compose = eval_compose(vit.img_size, None, cfg.data.mask_ratio, False, cfg.data.whole_volume)
    loader = make_loader(items, compose, cfg.data, cfg.seed, False)
    model = build_task(cfg, vit, None, len(label_index)).model
    model.load_state_dict(load_file(str(checkpoint / "model.safetensors")))
    model.eval()
    labels, scores = [], []
    with torch.no_grad():
        for b in loader:
            scores.append(torch.sigmoid(model(b["image"]).float())[:, 0].numpy())
            labels.append(np.asarray(b["labels"])[:, 0])
    if not labels:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(labels).astype(np.int64), np.concatenate(scores).astype(np.float64)


def pretrain_and_probe(
    store: Path,
    runs_dir: Path,
    *,
    seed: int = 0,
    mae_steps: int = 100,
    probe_steps: int = 100,
    workers: int = 2,
    probe_lr: float = PROBE_LR,
    progress: bool = True,
    on_run: Callable[[str, Any], None] | None = None,
    label_fractions: Sequence[float] = (),
) -> TrainOutcome:
    """Run the MAE recipe, then the linear-probe recipe on its encoder; score the held-out series.

    ``on_run(name, result)`` is called after each run (``"mae"``, ``"probe"``, and ``"label_efficiency"`` with
    the curve when ``label_fractions`` are given: the probe again on those fractions of the training labels).
    """
    mae_cfg, probe_cfg = demo_configs(store, runs_dir, seed, mae_steps, probe_steps, workers, probe_lr)
    n_train = training_series(probe_cfg)
    for cfg in (mae_cfg, probe_cfg):  # a small --studies archive: batches no larger than the training set
        cfg.data.batch_size = max(1, min(cfg.data.batch_size, n_train))
    with follow(mae_cfg.resolved_run_dir() / "metrics.jsonl", mae_steps, "MAE pretraining", progress):
        mae = run(mae_cfg)
    if on_run is not None:
        on_run("mae", mae)
    probe_cfg.pretrained = str(mae.checkpoint)
    with follow(probe_cfg.resolved_run_dir() / "metrics.jsonl", probe_steps, "linear probe", progress):
        probe = run(probe_cfg)
    labels, scores = held_out_scores(probe_cfg, Path(str(probe.checkpoint)))
    notes = []
    if labels.size == 0 or labels.min() == labels.max():
        notes.append("the held-out series hold one class only: AUROC undefined (run with more --studies)")
    if on_run is not None:
        on_run("probe", probe)
    curve = None
    if label_fractions:
        curve = _label_efficiency(probe_cfg, probe, runs_dir, label_fractions, progress)
        if on_run is not None:
            on_run("label_efficiency", curve)
    return TrainOutcome(mae, probe, labels, scores, notes, curve)


def _label_efficiency(
    probe_cfg: RunConfig, probe: Any, runs_dir: Path, fractions: Sequence[float], progress: bool
) -> Any:
    """The probe on each fraction of the training labels (the full-label probe run is reused for 1.0)."""
    from fastmed.train.recipes.label_efficiency import run_label_efficiency

    todo = sorted({float(f) for f in fractions} | {1.0})
    with tqdm(total=len(todo), desc="label efficiency", unit="run", disable=not progress, leave=False) as bar:
        bar.update(1)
        return run_label_efficiency(
            probe_cfg,
            todo,
            out_dir=runs_dir / "label_efficiency",
            on_run=lambda f, _: bar.update(0 if f == 1.0 else 1),
            done={1.0: probe},
        )
