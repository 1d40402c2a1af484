"""UNETR-style decoder on the ViT encoder: shapes in 2D/3D, Dice+CE against a formula, and it learns a mask."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from fastmed.train.metrics import dice_per_class  # noqa: E402
from fastmed.train.models.config import get_config  # noqa: E402
from fastmed.train.models.unetr import UNETR, dice_ce_loss  # noqa: E402
from fastmed.train.models.vit import ViTEncoder  # noqa: E402

from ._data import blob_images  # noqa: E402


@pytest.mark.parametrize("name", ["vit3d_tiny", "vit2d_tiny"])
def test_unetr_output_shape(name: str) -> None:
    cfg = get_config(name)
    model = UNETR(ViTEncoder(cfg), out_channels=3, feature_size=8)
    assert model.skip_layers == [1, 2]  # depth 4, 8-voxel patches: 3 stages, skips from blocks 1 and 2
    out = model(torch.randn(2, 1, *cfg.img_size))
    assert out.shape == (2, 3, *cfg.img_size)


def test_unetr_rejects_anisotropic_patches() -> None:
    cfg = get_config("vit2d_tiny").with_(patch_size=(8, 4))
    with pytest.raises(ValueError, match="power-of-two"):
        UNETR(ViTEncoder(cfg), 2)


def test_dice_ce_matches_formula() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5, 6))
    labels = rng.integers(0, 3, (2, 1, 5, 6))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    onehot = np.eye(3)[labels[:, 0]].transpose(0, 3, 1, 2)
    ce = -np.mean(np.log((p * onehot).sum(1)))
    inter = (p * onehot).sum(axis=(2, 3))
    dice = 1 - (2 * inter + 1e-5) / (p.sum(axis=(2, 3)) + onehot.sum(axis=(2, 3)) + 1e-5)  # MONAI's smoothing
    got = dice_ce_loss()(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert got == pytest.approx(dice.mean() + ce, rel=1e-6)


def test_unetr_learns_blob_masks() -> None:
    torch.manual_seed(0)
    cfg = get_config("vit2d_tiny")
    x = torch.from_numpy(blob_images(4, cfg.img_size, seed=2))
    y = (x > 0.8).long()
    model = UNETR(ViTEncoder(cfg), out_channels=2, feature_size=8)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss_fn = dice_ce_loss()
    losses = []
    for _ in range(30):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        pred = model(x).argmax(1)
    dice = dice_per_class(pred.numpy(), y[:, 0].numpy(), [1])[0]
    print(f"UNETR Dice+CE {losses[0]:.3f} -> {losses[-1]:.3f}, train Dice {dice:.3f}")
    assert losses[-1] < 0.5 * losses[0]
    assert dice > 0.8
