"""MAE: keyed masks, visible-only encoder, patch order, and a loss that falls when overfitting."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from fastmed.train.models.config import get_config  # noqa: E402
from fastmed.train.models.mae import MAE, normalized_pixel_targets  # noqa: E402
from fastmed.train.models.masking import mae_mask, mae_masks, n_masked  # noqa: E402
from fastmed.train.models.patches import patchify, unpatchify  # noqa: E402

from ._data import blob_images  # noqa: E402


def test_mask_is_a_function_of_the_keys() -> None:
    a = mae_mask((4, 4, 4), 0.75, seed=3, epoch=1, index=9)
    assert a.shape == (4, 4, 4) and a.dtype == np.bool_
    assert a.sum() == 48
    assert np.array_equal(a, mae_mask((4, 4, 4), 0.75, seed=3, epoch=1, index=9))
    others = [
        mae_mask((4, 4, 4), 0.75, seed=3, epoch=1, index=10),
        mae_mask((4, 4, 4), 0.75, seed=3, epoch=2, index=9),
        mae_mask((4, 4, 4), 0.75, seed=4, epoch=1, index=9),
    ]
    assert all(not np.array_equal(a, o) for o in others)


def test_masks_cover_patches_uniformly() -> None:
    m = mae_masks((8, 8), 0.5, seed=0, epoch=0, indices=range(400))
    assert (m.reshape(400, -1).sum(1) == 32).all()
    freq = m.mean(0)  # each patch masked with probability 0.5: binomial(400, 0.5) sd = 0.025
    assert np.abs(freq - 0.5).max() < 0.1


@pytest.mark.parametrize("grid", [(3, 8, 8), (8, 8), (1, 2)])
def test_batch_masks_equal_per_sample_masks(grid: tuple[int, ...]) -> None:
    """The vectorised batch draw is the per-sample draw, row for row, bit for bit (the oracle: ``mae_mask``)."""
    indices = [5, 0, 2**32 - 1, 17, 5]
    got = mae_masks(grid, 0.6, seed=11, epoch=3, indices=indices)
    want = np.stack([mae_mask(grid, 0.6, 11, 3, i) for i in indices])
    assert got.dtype == np.bool_ and got.shape == (len(indices), *grid)
    assert np.array_equal(got, want)
    assert mae_masks(grid, 0.6, 11, 3, []).shape == (0, *grid)


def test_mask_ratio_limits() -> None:
    assert n_masked(64, 0.75) == 48
    with pytest.raises(ValueError):
        n_masked(64, 1.0)
    with pytest.raises(ValueError):
        n_masked(2, 0.1)


@pytest.mark.parametrize("name", ["vit3d_tiny", "vit2d_tiny"])
def test_patchify_matches_conv_token_order(name: str) -> None:
    cfg = get_config(name)
    x = torch.randn(2, cfg.in_channels, *cfg.img_size)
    rows = patchify(x, cfg.patch_size)
    assert rows.shape == (2, cfg.n_patches, cfg.patch_dim)
    assert torch.equal(unpatchify(rows, cfg.patch_size, cfg.grid, cfg.in_channels), x)
    # A strided conv whose kernel is one-hot at voxel 0 of a patch reads patch row element 0 in token order.
    conv = (torch.nn.Conv3d if cfg.spatial_dims == 3 else torch.nn.Conv2d)(
        1, 1, cfg.patch_size, cfg.patch_size, bias=False
    )
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight.view(-1)[0] = 1.0
        tokens = conv(x).flatten(2).transpose(1, 2)[..., 0]
    assert torch.equal(tokens, rows[..., 0])


def test_normalized_targets_have_zero_mean_unit_variance() -> None:
    cfg = get_config("vit3d_tiny")
    t = normalized_pixel_targets(torch.rand(2, 1, *cfg.img_size) * 100, cfg.patch_size)
    assert torch.allclose(t.mean(-1), torch.zeros(()), atol=1e-4)
    assert torch.allclose(t.var(-1, unbiased=False), torch.ones(()), atol=1e-3)


@pytest.mark.parametrize("name", ["vit3d_tiny", "vit2d_tiny"])
def test_encoder_sees_visible_tokens_only(name: str) -> None:
    cfg = get_config(name)
    torch.manual_seed(0)
    model = MAE(cfg)
    seen: list[tuple[int, ...]] = []
    hook = model.encoder.blocks[0].register_forward_hook(lambda mod, inp, out: seen.append(tuple(inp[0].shape)))
    mask = torch.from_numpy(mae_masks(cfg.grid, 0.75, 0, 0, [0, 1, 2]))
    out = model(torch.randn(3, 1, *cfg.img_size), mask)
    hook.remove()
    n_vis = cfg.n_patches - n_masked(cfg.n_patches, 0.75)
    assert seen == [(3, n_vis, cfg.hidden_size)]
    assert out["pred"].shape == (3, cfg.n_patches, cfg.patch_dim)
    assert out["loss"].ndim == 0


def test_unequal_visible_counts_are_rejected() -> None:
    cfg = get_config("vit2d_tiny")
    model = MAE(cfg)
    mask = torch.zeros(2, cfg.n_patches, dtype=torch.bool)
    mask[0, :10] = True
    with pytest.raises(ValueError, match="same number"):
        model(torch.randn(2, 1, *cfg.img_size), mask)


def test_loss_ignores_visible_patches() -> None:
    cfg = get_config("vit2d_tiny")
    torch.manual_seed(0)
    model = MAE(cfg)
    x = torch.from_numpy(blob_images(2, cfg.img_size, 1))
    mask = torch.from_numpy(mae_masks(cfg.grid, 0.75, 0, 0, [0, 1])).reshape(2, -1)
    y = x.clone()
    rows = patchify(y, cfg.patch_size)
    rows[~mask] += torch.randn_like(rows[~mask])  # change only visible patches' targets ...
    y = unpatchify(rows, cfg.patch_size, cfg.grid, 1)
    with torch.no_grad():
        a = model(x, mask)
        # ... the prediction changes (the encoder sees them) but the targets it is scored on do not
        target_x = normalized_pixel_targets(x, cfg.patch_size)[mask]
        target_y = normalized_pixel_targets(y, cfg.patch_size)[mask]
    assert torch.equal(target_x, target_y)
    assert a["mask"].sum() == 2 * n_masked(cfg.n_patches, 0.75)


@pytest.mark.parametrize("name", ["vit3d_tiny", "vit2d_tiny"])
def test_mae_loss_falls_when_overfitting(name: str) -> None:
    cfg = get_config(name)
    torch.manual_seed(0)
    x = torch.from_numpy(blob_images(4, cfg.img_size, 0))
    model = MAE(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for step in range(60):  # a fresh keyed mask every step (epoch = step)
        mask = torch.from_numpy(mae_masks(cfg.grid, 0.75, seed=0, epoch=step, indices=range(4)))
        loss = model(x, mask)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    start, end = losses[0], float(np.mean(losses[-5:]))
    print(f"{name}: MAE loss {start:.3f} -> {end:.3f}")
    assert end < 0.6 * start
