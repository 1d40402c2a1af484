"""FastmedDataModule in a Lightning fit: the trainer sees exactly fm.DataLoader's batches, epoch by epoch.

Oracle: a bare ``fm.DataLoader`` with the same arguments iterated for the same epochs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import fastmed as fm
from tests.loader._volumes import VolumeDicts

pl = pytest.importorskip("lightning.pytorch", reason="the lightning extra is not installed")


class Recorder(pl.LightningModule):
    """A tiny 3D conv net that records the images it trains and validates on."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Conv3d(1, 1, 3, padding=1)
        self.seen: list[tuple[int, np.ndarray]] = []
        self.val_seen: list[np.ndarray] = []

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.seen.append((int(self.current_epoch), batch["image"].numpy().copy()))
        return torch.nn.functional.mse_loss(self.net(batch["image"]), batch["label"])

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.val_seen.append(batch["image"].numpy().copy())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_datamodule_feeds_the_trainer_fm_loaders_batches() -> None:
    from fastmed.loader.integrations.lightning import FastmedDataModule

    aug = fm.Compose([fm.RandomFlip(), fm.RandomGaussianNoise(std=(0.1, 0.2))])
    dm = FastmedDataModule(train=VolumeDicts(6), val=VolumeDicts(4), batch_size=2, seed=5, train_transform=aug)
    model = Recorder()
    trainer = _trainer()
    trainer.fit(model, datamodule=dm)

    ref = fm.DataLoader(VolumeDicts(6), batch_size=2, shuffle=True, seed=5, transform=aug)
    expected = [(e, b["image"].numpy()) for e in range(2) for b in ref]
    assert [e for e, _ in model.seen] == [e for e, _ in expected]
    for (_, got), (_, want) in zip(model.seen, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    plain = [b["image"].numpy() for b in torch.utils.data.DataLoader(VolumeDicts(4), batch_size=2)]
    assert len(model.val_seen) == 2 * len(plain)
    for got, want in zip(model.val_seen, plain * 2, strict=True):
        np.testing.assert_array_equal(got, want)


def test_datamodule_without_a_stage_says_so() -> None:
    from fastmed.loader.integrations.lightning import FastmedDataModule

    with pytest.raises(ValueError, match="no test dataset"):
        FastmedDataModule(train=VolumeDicts(2)).test_dataloader()


# ---- mid-epoch resume from a Lightning checkpoint -------------------------------------------


class Halt(Exception):
    """Stops a fit (like a crash) right after a checkpoint was written."""


class CheckpointThenHalt(pl.Callback):
    """After training step ``k`` (global), or the validation run there, save a checkpoint and stop the fit."""

    def __init__(self, k: int, path: str, on_validation: bool = False):
        self.k = k
        self.path = path
        self.on_validation = on_validation

    def _halt(self, trainer: pl.Trainer) -> None:
        if trainer.global_step == self.k:
            trainer.save_checkpoint(self.path)
            raise Halt

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if not self.on_validation:
            self._halt(trainer)

    def on_validation_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.on_validation:
            self._halt(trainer)


class IdRecorder(pl.LightningModule):
    """Records (epoch, sample ids, images) of every training batch; parameters never change (lr 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(1, 1)
        self.seen: list[tuple[int, list[int], np.ndarray]] = []

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.seen.append((int(self.current_epoch), batch["i"].tolist(), batch["image"].numpy().copy()))
        return self.lin(batch["image"].mean(dim=(1, 2, 3, 4))[:, None]).sum()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        pass

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _trainer(callbacks: list[pl.Callback] | None = None, **kwargs: Any) -> pl.Trainer:
    """A quiet 2-epoch CPU Trainer (no logger, checkpoints, progress bar or sanity check)."""
    return pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        **kwargs,
    )


def _resume_trainer(callbacks: list[pl.Callback], validate: bool) -> pl.Trainer:
    """Validation every 2 steps with ``validate``, else none."""
    return _trainer(callbacks, val_check_interval=2 if validate else 1.0, limit_val_batches=None if validate else 0)


@pytest.mark.parametrize(
    ("num_workers", "k", "validate"),
    [(0, 2, False), (0, 4, False), (0, 6, False), (2, 3, False), (0, 2, True)],
    ids=["mid-epoch-0", "end-of-epoch-0", "mid-epoch-1", "workers-mid-epoch-0", "after-validation-mid-epoch-0"],
)
def test_fit_resumed_from_a_checkpoint_sees_exactly_the_remaining_samples(
    num_workers: int, k: int, validate: bool, tmp_path
) -> None:
    """Stop after k steps, resume with ``ckpt_path`` in a new Trainer: the runs together equal one uninterrupted fit.

    Oracle: the uninterrupted fit of the same DataModule (sample ids per batch, epoch per batch,
    and the augmented images bit for bit). 10 samples in batches of 3: 4 steps per epoch, so
    ``k=4`` stops right after the last batch of epoch 0. With ``validate`` the trainer validates
    every 2 steps and the checkpoint is written at the end of the validation run after step k
    (where ``ModelCheckpoint`` writes).
    """
    from fastmed.loader.integrations.lightning import FastmedDataModule
    from tests.loader._datasets import IndexDataset

    aug = fm.Compose([fm.RandomFlip(), fm.RandomGaussianNoise(std=(0.1, 0.2))])

    def dm() -> FastmedDataModule:
        return FastmedDataModule(
            train=IndexDataset(10),
            val=IndexDataset(4),
            batch_size=3,
            seed=7,
            num_workers=num_workers,
            train_transform=aug,
        )

    whole = IdRecorder()
    _resume_trainer([], validate).fit(whole, datamodule=dm())
    assert len(whole.seen) == 8

    ckpt = str(tmp_path / "halt.ckpt")
    first = IdRecorder()
    with pytest.raises(Halt):
        _resume_trainer([CheckpointThenHalt(k, ckpt, on_validation=validate)], validate).fit(first, datamodule=dm())
    rest = IdRecorder()
    _resume_trainer([], validate).fit(rest, datamodule=dm(), ckpt_path=ckpt)

    got = first.seen + rest.seen
    assert [(e, ids) for e, ids, _ in got] == [(e, ids) for e, ids, _ in whole.seen]
    for (_, _, a), (_, _, b) in zip(got, whole.seen, strict=True):
        np.testing.assert_array_equal(a, b)
