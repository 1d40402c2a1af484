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
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
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
