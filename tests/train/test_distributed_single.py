"""Single-process behaviour of the distributed helpers (the 2-rank gloo run is in its own test)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from fastmed.train.engine.distributed import (  # noqa: E402
    init_distributed,
    mean_across_ranks,
    shutdown_distributed,
    unwrap_model,
    wrap_model,
)


def test_single_process_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = init_distributed()
    assert (info.rank, info.world_size, info.is_main, info.distributed) == (0, 1, True, False)
    model = torch.nn.Linear(3, 2)
    wrapped = wrap_model(model, info)
    assert wrapped is model and unwrap_model(wrapped) is model
    assert mean_across_ranks(2.5, info) == 2.5
    assert not torch.distributed.is_initialized()
    shutdown_distributed(info)


def test_recipe_models_train_under_ddp(tmp_path: Path) -> None:
    """Every recipe ViT holds parameters without a gradient (MONAI's unused ``norm_cross_attn``): DDP must take
    several steps on it, with the gradients of the plain model (a one-process gloo group; wrap_model is told
    two ranks so that it wraps)."""
    import numpy as np

    pytest.importorskip("monai")
    import torch.distributed as dist

    from fastmed.train.engine.distributed import DistInfo
    from fastmed.train.engine.steps import classification_step, mae_step, make_segmentation_step
    from fastmed.train.models.config import get_config
    from fastmed.train.models.heads import full_finetune
    from fastmed.train.models.mae import MAE
    from fastmed.train.models.masking import mae_masks
    from fastmed.train.models.unetr import UNETR, dice_ce_loss
    from fastmed.train.models.vit import ViTEncoder

    cfg = get_config("vit2d_tiny")
    g = torch.Generator().manual_seed(0)
    batches = [
        {
            "image": torch.randn(2, 1, *cfg.img_size, generator=g),
            "labels": np.array([[0.0], [1.0]]),
            "mae_mask": mae_masks(cfg.grid, 0.75, 0, k, [0, 1]),
            "mask": (torch.rand(2, *cfg.img_size, generator=g) > 0.7).long().numpy(),
        }
        for k in range(3)
    ]
    torch.manual_seed(0)
    cases = [
        (MAE(cfg), mae_step),
        (full_finetune(ViTEncoder(cfg), 1), classification_step),
        (UNETR(ViTEncoder(cfg), 2, feature_size=8), make_segmentation_step(dice_ce_loss())),
    ]
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        info = DistInfo(rank=0, world_size=2, local_rank=0, device=torch.device("cpu"))
        for model, step in cases:
            plain = copy.deepcopy(model)
            wrapped = wrap_model(model, info)
            assert isinstance(wrapped, torch.nn.parallel.DistributedDataParallel)
            probe = copy.deepcopy(plain)
            step(probe, batches[0]).backward()
            assert any(p.grad is None for p in probe.parameters())  # parameters without a gradient exist
            for batch in batches:  # without the unused-parameter search DDP raises at the second step
                for m in (wrapped, plain):
                    m.zero_grad(set_to_none=True)
                    step(m, batch).backward()
                for (name, p), q in zip(unwrap_model(wrapped).named_parameters(), plain.parameters(), strict=True):
                    assert (p.grad is None) == (q.grad is None), name
                    if p.grad is not None:
                        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)
    finally:
        dist.destroy_process_group()
