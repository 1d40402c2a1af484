"""Classification heads: linear probe freezes the encoder, full fine-tune trains it, multi-label BCE."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from fastmed.train.models.config import get_config  # noqa: E402
from fastmed.train.models.heads import full_finetune, linear_probe, multilabel_loss  # noqa: E402
from fastmed.train.models.vit import ViTEncoder  # noqa: E402

from ._data import blob_images  # noqa: E402


def _step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = multilabel_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_linear_probe_trains_only_the_head() -> None:
    torch.manual_seed(0)
    cfg = get_config("vit2d_tiny")
    model = linear_probe(ViTEncoder(cfg), n_labels=3)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"head.weight", "head.bias"}
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    x = torch.from_numpy(blob_images(4, cfg.img_size))
    y = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]])
    model.train()
    assert not model.encoder.training
    _step(model, x, y)
    assert all(torch.equal(before[k], v) for k, v in model.encoder.state_dict().items())


def test_full_finetune_trains_the_encoder() -> None:
    torch.manual_seed(0)
    cfg = get_config("vit2d_tiny")
    model = full_finetune(ViTEncoder(cfg), n_labels=2)
    assert all(p.requires_grad for p in model.parameters())
    before = model.encoder.patch_embed.patch_embeddings.weight.clone()
    x = torch.from_numpy(blob_images(4, cfg.img_size))
    _step(model, x, torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]]))
    assert not torch.equal(before, model.encoder.patch_embed.patch_embeddings.weight)
    assert model(x).shape == (4, 2)


def test_multilabel_loss_matches_formula() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 3))
    y = rng.integers(0, 2, (5, 3))
    p = 1 / (1 + np.exp(-z))
    ref = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert multilabel_loss(torch.from_numpy(z), torch.from_numpy(y)).item() == pytest.approx(ref, rel=1e-6)


def test_linear_probe_separates_a_learnable_label() -> None:
    # label: mean intensity above the median (a linear function of the patch embedding's input)
    torch.manual_seed(0)
    cfg = get_config("vit2d_tiny")
    x = torch.from_numpy(blob_images(32, cfg.img_size, seed=5))
    y = (x.mean(dim=(1, 2, 3)) > x.mean(dim=(1, 2, 3)).median()).long()[:, None]
    model = linear_probe(ViTEncoder(cfg), n_labels=1)
    feats = model.features(x).detach()  # frozen encoder: features computed once, as a probe does
    assert torch.allclose(feats, model.encoder.pooled(x))  # mean pooling by default
    assert torch.allclose(model.logits(feats), model(x), atol=1e-5)
    opt = torch.optim.Adam(model.head.parameters(), lr=3e-2)
    with torch.no_grad():
        start = multilabel_loss(model.logits(feats), y).item()
    for _ in range(300):
        loss = multilabel_loss(model.logits(feats), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"linear probe BCE {start:.3f} -> {loss.item():.3f}")
    assert loss.item() < 0.5 * start


@pytest.mark.parametrize("pool", ["mean", "max", "meanmax"])
def test_classifier_pooling_matches_token_reductions(pool: str) -> None:
    torch.manual_seed(0)
    cfg = get_config("vit2d_tiny")
    x = torch.from_numpy(blob_images(3, cfg.img_size, seed=2))
    model = linear_probe(ViTEncoder(cfg), n_labels=2, pool=pool).eval()
    with torch.no_grad():
        tokens = model.encoder(x)
        parts = {"mean": [tokens.mean(1)], "max": [tokens.amax(1)], "meanmax": [tokens.mean(1), tokens.amax(1)]}
        ref = torch.cat(parts[pool], dim=-1)
        assert torch.allclose(model.features(x), ref)
        assert model(x).shape == (3, 2)
    assert model.head.in_features == ref.shape[1]
    with pytest.raises(ValueError):
        linear_probe(ViTEncoder(cfg), n_labels=1, pool="sum")


@pytest.mark.parametrize("pool", ["max", "meanmax"])
def test_probe_blocks_pool_the_last_blocks_beside_the_final_tokens(pool: str) -> None:
    """Oracle: the encoder run by hand (patch embedding, each MONAI block, final LayerNorm), reduced with torch."""
    torch.manual_seed(0)
    cfg = get_config("vit3d_tiny")
    x = torch.from_numpy(np.random.default_rng(3).normal(size=(2, 1, *cfg.img_size)).astype(np.float32))
    model = linear_probe(ViTEncoder(cfg), n_labels=1, pool=pool, blocks=2).eval()
    enc = model.encoder
    with torch.no_grad():
        h, outs = enc.patch_embed(x), []
        for blk in enc.blocks:
            h = blk(h)
            outs.append(h)
        layers = [outs[-2], outs[-1], enc.norm(h)]

        def reduce(t: torch.Tensor) -> list[torch.Tensor]:
            return [t.amax(1)] if pool == "max" else [t.mean(1), t.amax(1)]

        ref = torch.cat([r for t in layers for r in reduce(t)], dim=-1)
        assert torch.allclose(model.features(x), ref, atol=1e-6)
    assert model.head.in_features == ref.shape[1] == cfg.hidden_size * 3 * (1 if pool == "max" else 2)
    with pytest.raises(ValueError, match="depth"):
        linear_probe(ViTEncoder(cfg), n_labels=1, blocks=cfg.depth + 1)
